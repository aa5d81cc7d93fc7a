import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("Event (asyncio.Event)", .timeLimit(.minutes(5)))
struct EventTests {
    @Test("set, clear, isSet; wait on a set event returns at once")
    func basics() throws {
        try run { () async throws -> Void in
            let event = Event()
            #expect(!event.isSet)
            #expect(event.description == "<Event unset, waiters: 0>")
            event.set()
            #expect(event.isSet)
            event.set()  // idempotent
            try await event.wait()
            event.clear()
            #expect(!event.isSet)
            event.clear()
            #expect(!event.isSet)
        }
    }

    @Test("set wakes every waiter: 4 loops x 25 tasks", arguments: 0..<2)
    func setWakesAll(repetition: Int) throws {
        try SyncTesting.withLoops(4) { loops in
            let event = Event()
            let woken = Locked(0)
            let tasks = (0..<100).map { index in
                loops[index % 4].loop.createTask {
                    try await event.wait()
                    woken.withLock { $0 += 1 }
                }
            }
            try SyncTesting.waitUntil("100 waiters") { event.waiterCount == 100 }
            #expect(woken.value == 0)
            event.set()
            _ = try SyncTesting.values(of: tasks)
            #expect(woken.value == 100)
            #expect(event.waiterCount == 0)
        }
    }

    @Test("clear: later waiters wait for the next set; those woken before the clear still return")
    func clear() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let event = Event()
            let early = (0..<3).map { _ in loop.createTask { try await event.wait() } }
            try await sleep(0)
            #expect(event.waiterCount == 3)
            event.set()
            event.clear()  // the three were woken already
            for task in early { try await task.value }

            let late = loop.createTask { try await event.wait() }
            try await sleep(0)
            #expect(event.waiterCount == 1 && !late.isDone)
            try await sleep(0)
            #expect(!late.isDone, "still waiting after the clear")
            event.set()
            try await late.value
        }
    }

    @Test("a cancelled waiter leaves at once and throws CancellationError; the others are still woken")
    func cancelWhileWaiting() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let event = Event()
            let tasks = (0..<3).map { _ in loop.createTask { try await event.wait() } }
            try await sleep(0)
            tasks[1].cancel()
            #expect(event.waiterCount == 2)
            await tasks[1].waitUntilDone()
            #expect(tasks[1].isCancelled)
            event.set()
            try await tasks[0].value
            try await tasks[2].value
        }
    }

    @Test("a waiter woken by set but cancelled before it resumes throws CancellationError (as asyncio)")
    func wokenThenCancelled() throws {
        try SyncTesting.withLoops(1) { loops in
            let event = Event()
            let waiter = loops[0].loop.createTask { try await event.wait() }
            try SyncTesting.waitUntil("the waiter queued") { event.waiterCount == 1 }
            let gate = try SyncTesting.block(loops[0].loop)
            event.set()
            waiter.cancel()
            gate.signal()
            #expect(SyncTesting.wasCancelled(try SyncTesting.outcome(of: waiter)))
            #expect(event.isSet && event.waiterCount == 0)
        }
    }

    @Test("cancel racing with set, 500 rounds: every waiter ends exactly once, none is left queued")
    func cancelRacesSet() throws {
        try SyncTesting.withLoops(2) { loops in
            for round in 0..<500 {
                let event = Event()
                let racer = loops[0].loop.createTask { try await event.wait() }
                let bystander = loops[1].loop.createTask { try await event.wait() }
                try SyncTesting.waitUntil("two waiters") { event.waiterCount == 2 }
                let start = SyncTesting.StartLine(parties: 2)
                JoinableThread.runAll(2) { which in
                    start.arriveAndWait()
                    SyncTesting.jitter(round: round, party: which)
                    if which == 0 { event.set() } else { racer.cancel() }
                }
                let outcome = try SyncTesting.outcome(of: racer)
                #expect(SyncTesting.wasCancelled(outcome) || (try? outcome.get()) != nil)
                try SyncTesting.outcome(of: bystander).get()
                #expect(event.waiterCount == 0, "round \(round)")
            }
        }
    }
}
