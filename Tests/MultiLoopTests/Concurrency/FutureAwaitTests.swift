import CMultiLoopSystem
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `await future.value` of a pending future: the first awaiter waits in the future's own slot,
/// later ones in nodes of the callback list; the completer resumes them directly, in
/// registration order; a cancel and a completion race for each wait and exactly one ends it.
@Suite("Awaiting a pending future (the awaiter slot)", .timeLimit(.minutes(5)))
struct FutureAwaitTests {
    typealias Event = FutureTesting.Event
    typealias LoopThread = FutureTesting.LoopThread

    @Test("the first awaiter takes the future's slot, the others nodes; all resume in registration order, with a done callback between them in its place")
    func registrationOrder() throws {
        let order = try run { () async throws -> [String] in
            let loop = try getRunningLoop()
            let future = loop.createFuture(of: Int.self)
            let order = LoopConfined<[String]>([])
            let first = loop.createTask { () async throws -> Void in
                let value = try await future.value
                order.value.append("first \(value)")
            }
            try await sleep(0)  // `first` waits now, in the slot (the list was empty)
            #expect(ml_load_relaxed(future.awaiterWord) == AwaiterWord.waiting)
            try future.addDoneCallback { _ in order.value.append("callback") }
            let second = loop.createTask { () async throws -> Void in
                let value = try await future.value
                order.value.append("second \(value)")
            }
            try await sleep(0)  // `second` waits in a node: the list was not empty
            try future.setResult(7)
            #expect(ml_load_relaxed(future.awaiterWord) == AwaiterWord.done)
            try await first.value
            try await second.value
            return order.value
        }
        #expect(order == ["first 7", "callback", "second 7"])
    }

    @Test("a cancelled awaiter in the slot throws CancellationError at once, and the slot serves the next awaiter")
    func cancelledSlotAwaiterFreesTheSlot() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let future = loop.createFuture(of: String.self)
            let cancelled = loop.createTask { try await future.value }
            try await sleep(0)
            #expect(ml_load_relaxed(future.awaiterWord) == AwaiterWord.waiting)
            cancelled.cancel()
            await cancelled.waitUntilDone()
            #expect(cancelled.isCancelled, "its wait ended with CancellationError")
            #expect(!future.isDone, "the future itself is not cancelled")
            #expect(ml_load_relaxed(future.awaiterWord) == AwaiterWord.empty, "the slot is free again")

            let next = loop.createTask { try await future.value }
            try await sleep(0)
            #expect(ml_load_relaxed(future.awaiterWord) == AwaiterWord.waiting, "the next awaiter took the slot")
            try future.setResult("done")
            #expect(try await next.value == "done")
        }
    }

    @Test("an awaiter cancelled before it suspends throws at once and leaves the slot empty")
    func cancelledBeforeSuspending() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let future = loop.createFuture(of: Int.self)
            let task = loop.createTask { () async throws -> Int in
                withUnsafeCurrentTask { $0?.cancel() }
                return try await future.value
            }
            await task.waitUntilDone()
            #expect(task.isCancelled)
            #expect(ml_load_relaxed(future.awaiterWord) == AwaiterWord.empty)
            #expect(!future.isDone)
        }
    }

    @Test("a cancelled awaiter in a node throws CancellationError; the others still get the value")
    func cancelledNodeAwaiter() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let future = loop.createFuture(of: Int.self)
            let inSlot = loop.createTask { try await future.value }
            let inNode = loop.createTask { try await future.value }
            let alsoInNode = loop.createTask { try await future.value }
            try await sleep(0)
            inNode.cancel()
            await inNode.waitUntilDone()
            #expect(inNode.isCancelled)
            try future.setResult(3)
            #expect(try await inSlot.value == 3)
            #expect(try await alsoInNode.value == 3)
        }
    }

    @Test("a future completed while its awaiter was reserving the slot is returned, not lost")
    func completedBeforePublish() throws {
        // The awaiter reserves the slot, and the completer marks it DONE before the awaiter
        // publishes its continuation: the awaiter must resume itself with the outcome.
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let future = loop.createFuture(of: Int.self)
            #expect(AwaiterWord.reserve(future.awaiterWord))
            try future.setResult(11)
            #expect(ml_load_relaxed(future.awaiterWord) == AwaiterWord.done)
            let value = try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Int, any Error>) in
                future.awaiterContinuation = continuation
                #expect(AwaiterWord.publish(future.awaiterWord) == AwaiterWord.done)
                continuation.resume(with: Result { try future.result() })
            }
            #expect(value == 11)
        }
    }

    @Test("a task of Swift's global executor can await a future of a loop")
    func awaitFromTheGlobalExecutor() async throws {
        let owner = try LoopThread()
        defer { owner.shutDown() }
        let future = owner.loop.createFuture(of: Int.self)
        let waiter = Task.detached { try await future.value }
        try await Task.sleep(nanoseconds: 1_000_000)
        try owner.sync { try future.setResult(5) }
        #expect(try await waiter.value == 5)
    }

    @Test("an awaiting task whose loop closed while it waited still resumes (on the global executor), and the loop's handler is told")
    func awaiterOfAClosedLoopResumes() async throws {
        let loop = try EventLoop()
        let errors = ErrorLog()
        errors.install(on: loop)
        let elsewhere = try EventLoop()
        defer { _ = try? elsewhere.close() }
        let future = elsewhere.createFuture(of: Int.self)
        let task = loop.createTask { try await future.value }
        // Run the loop (on a thread of our own, not the test's) until `task` waits, then close it.
        let closed = await offThePool { () -> Bool in
            do {
                try loop.runUntilComplete(loop.createTask { try await sleep(0) }.future)
                try loop.close()
                return !task.isDone
            } catch {
                return false
            }
        }
        #expect(closed, "the task was waiting when its loop closed")
        try future.setResult(9)
        // Awaited, not waited for: the resumed task runs on the global executor's threads.
        #expect(try await task.value == 9)
        #expect(errors.all.contains { $0.message.contains("closed event loop") })
    }

    @Test("completion on one thread racing the awaiter's cancellation on another: every wait ends exactly once, with the value or CancellationError (300 rounds)",
          arguments: 0..<3)
    func completionRacesCancellation(repetition: Int) throws {
        let owner = try LoopThread()
        defer { owner.shutDown() }
        let loop = owner.loop
        var outcomes = (values: 0, cancellations: 0)
        for round in 0..<300 {
            let future = Future<Int>(loop: loop)
            let awaiters = (0..<2).map { _ in loop.createTask { try await future.value } }
            let start = FutureTesting.StartLine(parties: 2)
            JoinableThread.runAll(2) { party in
                start.arriveAndWait()
                SyncTesting.jitter(round: round, party: party)
                if party == 0 { try? future.setResult(round) } else { awaiters[round % 2].cancel() }
            }
            for awaiter in awaiters {
                // A lost resume would leave the task pending: fail this round within seconds.
                let ended = Event()
                try awaiter.addDoneCallback(on: loop) { _ in ended.signal() }
                try #require(ended.wait(seconds: 5), "round \(round): an awaiter never resumed")
                switch Result(catching: awaiter.result) {
                case .success(let value):
                    #expect(value == round)
                    outcomes.values += 1
                case .failure(let error):
                    #expect(error is CancelledError, "round \(round): \(error)")
                    outcomes.cancellations += 1
                }
            }
        }
        #expect(outcomes.values + outcomes.cancellations == 600)
        #expect(outcomes.values >= 300, "the awaiter that nobody cancelled always gets the value")
    }
}
