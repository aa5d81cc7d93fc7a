import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `addDoneCallback` / `removeDoneCallback`: where a callback runs, when, in which order, and
/// what happens to one that throws, is removed, or whose loop is closed.
/// asyncio: `Future.add_done_callback` / `remove_done_callback`.
@Suite("Future done callbacks", .timeLimit(.minutes(5)))
struct FutureDoneCallbackTests {
    typealias Boom = FutureTesting.Boom
    typealias Event = FutureTesting.Event
    typealias LoopThread = FutureTesting.LoopThread
    typealias Place = FutureTesting.Place

    // MARK: Where it runs

    @Test("a callback registered with on: runs on that loop's thread, not the future's loop's")
    func explicitLoop() throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let loops = [a.loop, b.loop]
        let future = a.loop.createFuture(of: Int.self)
        let place = Locked<Place?>(nil)
        let ran = Event()
        try future.addDoneCallback(on: b.loop) { _ in
            place.withLock { $0 = .here(among: loops) }
            ran.signal()
        }
        try future.setResult(1)
        try ran.require("the done callback")
        #expect(place.value == .loopThread(1, of: loops))
    }

    @Test("a callback registered without on: from a loop's callback runs on that running loop")
    func runningLoopOfRegisteringThread() throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let loops = [a.loop, b.loop]
        let future = a.loop.createFuture(of: Int.self)
        let place = Locked<Place?>(nil)
        let ran = Event()
        try b.sync {
            try future.addDoneCallback { _ in
                place.withLock { $0 = .here(among: loops) }
                ran.signal()
            }
        }
        try future.setResult(1)
        try ran.require("the done callback")
        #expect(place.value == .loopThread(1, of: loops))
    }

    @Test("a callback registered without on: from a thread with no running loop runs on the future's loop")
    func futuresOwnLoop() throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let loops = [a.loop, b.loop]
        let future = a.loop.createFuture(of: Int.self)
        let place = Locked<Place?>(nil)
        let ran = Event()
        _ = try FutureTesting.onNewThread {
            try future.addDoneCallback { _ in
                place.withLock { $0 = .here(among: loops) }
                ran.signal()
            }
        }.get()
        try future.setResult(1)
        try ran.require("the done callback")
        #expect(place.value == .loopThread(0, of: loops))
    }

    @Test("a loop merely set with setEventLoop on the registering thread is not used: the callback runs on the future's loop")
    func setLoopIsNotTheRunningLoop() throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let loops = [a.loop, b.loop]
        let future = a.loop.createFuture(of: Int.self)
        let place = Locked<Place?>(nil)
        let ran = Event()
        _ = try FutureTesting.onNewThread {
            setEventLoop(b.loop)
            try future.addDoneCallback { _ in
                place.withLock { $0 = .here(among: loops) }
                ran.signal()
            }
        }.get()
        try future.setResult(1)
        try ran.require("the done callback")
        #expect(place.value == .loopThread(0, of: loops))
    }

    @Test("a done callback receives the future itself, already done with its result")
    func receivesTheFuture() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: String.self)
        let seen = Locked<(Bool, String?)?>(nil)
        let ran = Event()
        try future.addDoneCallback { argument in
            seen.withLock { $0 = (argument === future, try? argument.result()) }
            ran.signal()
        }
        try future.setResult("done")
        try ran.require("the done callback")
        #expect(seen.value?.0 == true)
        #expect(seen.value?.1 == "done")
    }

    // MARK: When it runs

    @Test("setResult on the loop thread does not run the done callback inline: it runs in a later iteration")
    func neverInline() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let loop = a.loop
        let future = loop.createFuture(of: Int.self)
        let ranIn = Locked<UInt64?>(nil)
        let ran = Event()
        let (ranBeforeSetResultReturned, setInIteration) = try a.sync { () -> (Bool, UInt64) in
            try future.addDoneCallback { _ in
                ranIn.withLock { $0 = loop.statistics.iterations }
                ran.signal()
            }
            try future.setResult(1)
            return (ranIn.value != nil, loop.statistics.iterations)
        }
        try ran.require("the done callback")
        #expect(!ranBeforeSetResultReturned)
        #expect(try #require(ranIn.value) > setInIteration)
    }

    @Test("cancel and setException on the loop thread do not run done callbacks inline either")
    func neverInlineForCancelAndException() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let cancelled = a.loop.createFuture(of: Int.self)
        let failed = a.loop.createFuture(of: Int.self)
        let runs = Locked(0)
        let ranInline = try a.sync { () -> Int in
            try cancelled.addDoneCallback { _ in runs.withLock { $0 += 1 } }
            try failed.addDoneCallback { _ in runs.withLock { $0 += 1 } }
            cancelled.cancel()
            try failed.setException(Boom())
            return runs.value
        }
        try a.drain()
        #expect(ranInline == 0)
        #expect(runs.value == 2)
    }

    @Test("a callback registered on an already-done future is scheduled, not run inline, and runs in the next iteration")
    func registeredAfterCompletion() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let loop = a.loop
        let future = loop.createFuture(of: Int.self)
        try future.setResult(3)
        let ranIn = Locked<UInt64?>(nil)
        let value = Locked<Int?>(nil)
        let (ranInline, registeredInIteration) = try a.sync { () -> (Bool, UInt64) in
            try future.addDoneCallback { future in
                value.withLock { $0 = try? future.result() }
                ranIn.withLock { $0 = loop.statistics.iterations }
            }
            return (ranIn.value != nil, loop.statistics.iterations)
        }
        try a.drain()
        #expect(!ranInline)
        #expect(ranIn.value == registeredInIteration + 1)
        #expect(value.value == 3)
    }

    @Test("a callback registered from a plain thread on an already-done future runs exactly once on the future's loop")
    func registeredAfterCompletionFromPlainThread() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        try future.setResult(3)
        let places = Locked<[Place]>([])
        _ = try FutureTesting.onNewThread {
            try future.addDoneCallback { _ in places.withLock { $0.append(.here(among: [a.loop])) } }
        }.get()
        try a.drain()
        #expect(places.value == [.loopThread(0, of: [a.loop])])
    }

    @Test("callbacks run in registration order", arguments: ["loop thread", "plain thread"])
    func registrationOrder(completer: String) throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let order = LoopConfined<[Int]>([])
        for index in 0..<100 {
            try future.addDoneCallback { _ in order.value.append(index) }
        }
        if completer == "loop thread" {
            try a.sync { try future.setResult(0) }
        } else {
            try future.setResult(0)
        }
        try a.drain()
        #expect(order.value == Array(0..<100))
    }

    @Test("callbacks on two loops run in registration order on each loop")
    func registrationOrderPerLoop() throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let onA = LoopConfined<[Int]>([]), onB = LoopConfined<[Int]>([])
        let misplaced = Locked(0)
        for index in 0..<100 {
            if index % 3 == 0 {
                try future.addDoneCallback(on: b.loop) { _ in
                    if !b.loop.isOnLoopThread { misplaced.withLock { $0 += 1 } }
                    onB.value.append(index)
                }
            } else {
                try future.addDoneCallback(on: a.loop) { _ in
                    if !a.loop.isOnLoopThread { misplaced.withLock { $0 += 1 } }
                    onA.value.append(index)
                }
            }
        }
        try future.setResult(0)
        try a.drain()
        try b.drain()
        #expect(onB.value == Array(stride(from: 0, to: 100, by: 3)))
        #expect(onA.value == (0..<100).filter { $0 % 3 != 0 })
        #expect(misplaced.value == 0)
    }

    // MARK: Removal

    @Test("removeDoneCallback before completion returns true and that callback never runs, while the others do")
    func removeBeforeCompletion() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let removedRuns = Locked(0), keptRuns = Locked(0)
        let removed = try future.addDoneCallback { _ in removedRuns.withLock { $0 += 1 } }
        try future.addDoneCallback { _ in keptRuns.withLock { $0 += 1 } }
        #expect(future.removeDoneCallback(removed))
        #expect(removed.handle.isCancelled)
        try future.setResult(1)
        try a.drain()
        #expect(removedRuns.value == 0)
        #expect(keptRuns.value == 1)
    }

    @Test("removeDoneCallback a second time returns false")
    func removeTwice() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let token = try future.addDoneCallback { _ in }
        #expect(future.removeDoneCallback(token))
        #expect(!future.removeDoneCallback(token))
    }

    @Test("removeDoneCallback after the callback ran returns false, and it ran exactly once")
    func removeAfterRun() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let runs = Locked(0)
        let token = try future.addDoneCallback { _ in runs.withLock { $0 += 1 } }
        try future.setResult(1)
        try a.drain()
        #expect(runs.value == 1)
        #expect(!future.removeDoneCallback(token))
        try a.drain()
        #expect(runs.value == 1)
    }

    @Test("removeDoneCallback after completion but before the callback started returns true and it never runs")
    func removeWhileScheduled() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let runs = Locked(0)
        let removed = try a.sync { () -> Bool in
            let token = try future.addDoneCallback { _ in runs.withLock { $0 += 1 } }
            try future.setResult(1)  // now scheduled in this loop's ready queue
            return future.removeDoneCallback(token)
        }
        try a.drain()
        #expect(removed)
        #expect(runs.value == 0)
    }

    @Test("cancelling the token's handle is the same as removing the callback")
    func cancelHandle() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let runs = Locked(0)
        let token = try future.addDoneCallback { _ in runs.withLock { $0 += 1 } }
        token.handle.cancel()
        try future.setResult(1)
        try a.drain()
        #expect(runs.value == 0)
        #expect(!future.removeDoneCallback(token))
    }

    @Test("when removal races completion, exactly one of them wins: removed or ran, never both, never neither (300 rounds)",
          arguments: 0..<2)
    func removalRacesCompletion(repetition: Int) throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let rounds = 300
        let runs = Locked([Int](repeating: 0, count: rounds))
        let removed = Locked([Bool](repeating: false, count: rounds))
        for round in 0..<rounds {
            let future = a.loop.createFuture(of: Int.self)
            let token = try future.addDoneCallback { _ in runs.withLock { $0[round] += 1 } }
            let start = FutureTesting.StartLine(parties: 2)
            let remover = JoinableThread {
                start.arriveAndWait()
                let won = future.removeDoneCallback(token)
                removed.withLock { $0[round] = won }
            }
            start.arriveAndWait()
            try future.setResult(round)
            remover.join()
        }
        try a.drain()
        let runCounts = runs.value, removals = removed.value
        let wrong = (0..<rounds).filter { (runCounts[$0] == 1) == removals[$0] || runCounts[$0] > 1 }
        #expect(wrong.isEmpty, "rounds where ran/removed disagree: \(wrong)")
    }

    // MARK: Errors

    @Test("an error thrown by a done callback goes to the loop's exception handler, and the loop keeps going")
    func throwingCallback() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let reports = Locked<[EventLoopErrorContext]>([])
        a.loop.setExceptionHandler { _, context in reports.withLock { $0.append(context) } }
        let future = a.loop.createFuture(of: Int.self)
        let laterRuns = Locked(0)
        let throwing = try future.addDoneCallback { _ in throw Boom(code: 5) }
        try future.addDoneCallback { _ in laterRuns.withLock { $0 += 1 } }
        try future.setResult(1)
        try a.drain()
        #expect(laterRuns.value == 1)
        let all = reports.value
        try #require(all.count == 1)
        #expect(all[0].error as? Boom == Boom(code: 5))
        #expect(all[0].handle === throwing.handle)
        // Still running: it takes and runs more work.
        #expect(try a.sync { 7 } == 7)
    }

    @Test("addDoneCallback(on:) a closed loop throws closed, for a pending and for a done future")
    func registerOnClosedLoop() throws {
        let closed = try EventLoop()
        try closed.close()
        let owner = try EventLoop()
        defer { _ = try? owner.close() }
        let pending = owner.createFuture(of: Int.self)
        let done = owner.createFuture(of: Int.self)
        try done.setResult(1)
        #expect(throws: EventLoopError.closed) { try pending.addDoneCallback(on: closed) { _ in } }
        #expect(throws: EventLoopError.closed) { try done.addDoneCallback(on: closed) { _ in } }
    }

    @Test("addDoneCallback without on: throws closed when it would target the future's closed loop")
    func registerOnClosedOwnLoop() throws {
        let result = FutureTesting.onNewThread { () -> Bool in
            let owner = try EventLoop()
            let future = owner.createFuture(of: Int.self)
            try owner.close()
            do {
                try future.addDoneCallback { _ in }
                return false
            } catch {
                return error as? EventLoopError == .closed
            }
        }
        #expect(try result.get())
    }

    @Test("a callback whose loop was closed after registration is reported to that loop's exception handler, once, and never runs")
    func targetClosedBeforeCompletion() throws {
        let owner = try EventLoop()
        let target = try EventLoop()
        defer { _ = try? owner.close() }
        let reports = Locked<[EventLoopErrorContext]>([])
        target.setExceptionHandler { _, context in reports.withLock { $0.append(context) } }
        let future = owner.createFuture(of: Int.self)
        let runs = Locked(0)
        let token = try future.addDoneCallback(on: target) { _ in runs.withLock { $0 += 1 } }
        try target.close()
        try future.setResult(1)
        let all = reports.value
        try #require(all.count == 1)
        #expect(all[0].error as? EventLoopError == .closed)
        #expect(all[0].handle === token.handle)
        #expect(runs.value == 0)
        // The owner loop is not involved: closing it runs nothing.
        #expect(try owner.close() == EventLoopCloseReport())
    }

    @Test("a callback whose loop is closed after registration is not reported if it was removed first")
    func removedThenTargetClosed() throws {
        let owner = try EventLoop()
        let target = try EventLoop()
        defer { _ = try? owner.close() }
        let reports = Locked(0)
        target.setExceptionHandler { _, _ in reports.withLock { $0 += 1 } }
        let future = owner.createFuture(of: Int.self)
        let token = try future.addDoneCallback(on: target) { _ in }
        #expect(future.removeDoneCallback(token))
        try target.close()
        try future.setResult(1)
        #expect(reports.value == 0)
    }

    @Test("a done callback already scheduled on a loop that is then closed runs during close(), with that loop running")
    func scheduledThenClosed() throws {
        let loop = try EventLoop()
        let future = loop.createFuture(of: Int.self)
        let places = Locked<[Place]>([])
        try future.addDoneCallback { _ in places.withLock { $0.append(.here(among: [loop])) } }
        try future.setResult(1)  // the loop is not running: the callback waits in its inbox
        #expect(places.value.isEmpty)
        let report = try loop.close()
        #expect(report.callbacksRun == 1)
        #expect(places.value == [.loopThread(0, of: [loop])])
    }

    // MARK: Concurrency

    @Test("callbacks registered by 4 threads while another thread completes the future all run exactly once, on the loop",
          arguments: 0..<10)
    func registrationRacesCompletion(repetition: Int) throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let registrars = 4, perRegistrar = 200
        let runs = LoopConfined([Int](repeating: 0, count: registrars * perRegistrar))
        let misplaced = Locked(0)
        let start = FutureTesting.StartLine(parties: registrars + 1)
        let completer = JoinableThread {
            start.arriveAndWait()
            try! future.setResult(repetition)
        }
        JoinableThread.runAll(registrars) { registrar in
            start.arriveAndWait()
            for index in 0..<perRegistrar {
                try! future.addDoneCallback { future in
                    if !a.loop.isOnLoopThread || (try? future.result()) != repetition {
                        misplaced.withLock { $0 += 1 }
                    }
                    runs.value[registrar * perRegistrar + index] += 1
                }
            }
        }
        completer.join()
        try a.drain()
        #expect(runs.value.allSatisfy { $0 == 1 })
        #expect(misplaced.value == 0)
    }
}
