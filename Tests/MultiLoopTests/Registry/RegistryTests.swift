import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// The per-thread registry: `getRunningLoop`, `getEventLoop`, `setEventLoop`, `newEventLoop`.
/// asyncio: `get_running_loop`, `get_event_loop`, `set_event_loop`, `new_event_loop`.
///
/// The registry is per thread, and Swift Testing runs tests on threads it shares between
/// tests, so every test here works on threads it starts itself (`onNewThread` also clears the
/// thread's set loop before the thread ends).
@Suite("Per-thread loop registry", .timeLimit(.minutes(5)))
struct RegistryTests {
    typealias LoopThread = FutureTesting.LoopThread

    private func onNewThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try FutureTesting.onNewThread(body).get()
    }

    // MARK: getRunningLoop

    @Test("getRunningLoop on a thread where no loop runs throws noRunningLoop")
    func noRunningLoop() throws {
        let outcome = try onNewThread { Result { try getRunningLoop() } }
        #expect(throws: EventLoopError.noRunningLoop) { try outcome.get() }
    }

    @Test("getRunningLoop throws noRunningLoop even when the thread has a set loop")
    func setLoopIsNotRunning() throws {
        let outcome = try onNewThread { () -> Result<EventLoop, any Error> in
            let loop = try EventLoop()
            defer { _ = try? loop.close() }
            setEventLoop(loop)
            return Result { try getRunningLoop() }
        }
        #expect(throws: EventLoopError.noRunningLoop) { try outcome.get() }
    }

    @Test("getRunningLoop inside a callback returns the loop running the callback; after runForever returns it throws again")
    func insideCallback() throws {
        let (before, inside, after, loop) = try onNewThread {
            () -> (Result<EventLoop, any Error>, Result<EventLoop, any Error>?, Result<EventLoop, any Error>, EventLoop) in
            let loop = try EventLoop()
            defer { _ = try? loop.close() }
            let inside = LoopConfined<Result<EventLoop, any Error>?>(nil)
            let before = Result { try getRunningLoop() }
            try loop.callSoon {
                loop.stop()
                inside.value = Result { try getRunningLoop() }
            }
            try loop.runForever()
            let after = Result { try getRunningLoop() }
            return (before, inside.value, after, loop)
        }
        #expect(throws: EventLoopError.noRunningLoop) { try before.get() }
        #expect(try #require(inside).get() === loop)
        #expect(throws: EventLoopError.noRunningLoop) { try after.get() }
    }

    @Test("getRunningLoop returns the loop on its own thread only")
    func onlyOnTheLoopThread() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let inside = try a.sync { try getRunningLoop() }
        #expect(inside === a.loop)
        let elsewhere = try onNewThread { Result { try getRunningLoop() } }
        #expect(throws: EventLoopError.noRunningLoop) { try elsewhere.get() }
    }

    @Test("getRunningLoop after runUntilComplete returns (or throws) throws noRunningLoop again")
    func afterRunUntilComplete() throws {
        let (afterSuccess, afterFailure) = try onNewThread { () -> (Result<EventLoop, any Error>, Result<EventLoop, any Error>) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let good = loop.createFuture(of: Int.self)
            try loop.callSoon { try good.setResult(1) }
            _ = try loop.runUntilComplete(good)
            let afterSuccess = Result { try getRunningLoop() }
            let bad = loop.createFuture(of: Int.self)
            try loop.callSoon { try bad.setException(FutureTesting.Boom()) }
            _ = try? loop.runUntilComplete(bad)
            return (afterSuccess, Result { try getRunningLoop() })
        }
        #expect(throws: EventLoopError.noRunningLoop) { try afterSuccess.get() }
        #expect(throws: EventLoopError.noRunningLoop) { try afterFailure.get() }
    }

    // MARK: getEventLoop / setEventLoop / newEventLoop

    @Test("getEventLoop inside a callback returns the running loop, even when another loop is set on the thread")
    func getEventLoopPrefersRunning() throws {
        let (got, running, set) = try onNewThread { () -> (EventLoop?, EventLoop, EventLoop) in
            let running = try EventLoop(), set = try EventLoop()
            defer { _ = try? running.close(); _ = try? set.close() }
            setEventLoop(set)
            let got = LoopConfined<EventLoop?>(nil)
            try running.callSoon {
                running.stop()
                got.value = try getEventLoop()
            }
            try running.runForever()
            return (got.value, running, set)
        }
        #expect(got === running)
        #expect(got !== set)
    }

    @Test("getEventLoop with no running loop returns the loop set with setEventLoop")
    func getEventLoopReturnsSet() throws {
        let (got, set) = try onNewThread { () -> (EventLoop, EventLoop) in
            let set = try EventLoop()
            defer { _ = try? set.close() }
            setEventLoop(set)
            return (try getEventLoop(), set)
        }
        #expect(got === set)
    }

    @Test("getEventLoop with no running and no set loop creates one and sets it: a second call returns the same loop")
    func getEventLoopCreates() throws {
        let (first, second, runningAfter, closedFirst) = try onNewThread { () -> (EventLoop, EventLoop, Bool, Bool) in
            let first = try getEventLoop()
            let second = try getEventLoop()
            let runningAfter = (try? getRunningLoop()) != nil
            try first.close()
            return (first, second, runningAfter, first.isClosed)
        }
        #expect(first === second)
        #expect(!runningAfter)  // created and set, not started
        #expect(closedFirst)
    }

    @Test("the loop getEventLoop created is usable: it runs callbacks and completes futures")
    func createdLoopIsUsable() throws {
        let value = try onNewThread { () -> Int in
            let loop = try getEventLoop()
            defer { _ = try? loop.close() }
            try FutureTesting.armWatchdog(loop)
            let future = loop.createFuture(of: Int.self)
            try loop.callSoon { try future.setResult(3) }
            return try loop.runUntilComplete(future)
        }
        #expect(value == 3)
    }

    @Test("after getEventLoop runs the loop it returns, getEventLoop still returns the same set loop")
    func setLoopSurvivesRun() throws {
        let (before, inside, after) = try onNewThread { () -> (EventLoop, EventLoop?, EventLoop) in
            let before = try getEventLoop()
            defer { _ = try? before.close() }
            let inside = LoopConfined<EventLoop?>(nil)
            try before.callSoon {
                before.stop()
                inside.value = try getEventLoop()
            }
            try before.runForever()
            return (before, inside.value, try getEventLoop())
        }
        #expect(inside === before)
        #expect(after === before)
    }

    @Test("setEventLoop(nil) clears the thread's loop: the next getEventLoop creates a different one")
    func setNilClears() throws {
        let (first, second, third) = try onNewThread { () -> (EventLoop, EventLoop, EventLoop) in
            let first = try getEventLoop()
            defer { _ = try? first.close() }
            setEventLoop(nil)
            let second = try getEventLoop()
            defer { _ = try? second.close() }
            let third = try getEventLoop()
            return (first, second, third)
        }
        #expect(first !== second)
        #expect(second === third)
    }

    @Test("setEventLoop replaces the thread's loop")
    func setReplaces() throws {
        let (got, replacement) = try onNewThread { () -> (EventLoop, EventLoop) in
            let original = try getEventLoop()
            defer { _ = try? original.close() }
            let replacement = try EventLoop()
            defer { _ = try? replacement.close() }
            setEventLoop(replacement)
            return (try getEventLoop(), replacement)
        }
        #expect(got === replacement)
    }

    @Test("newEventLoop returns a new loop each time and never makes it the thread's loop")
    func newEventLoopIsNotCurrent() throws {
        let (made, another, current, isRunning) = try onNewThread { () -> (EventLoop, EventLoop, EventLoop, Bool) in
            let made = try newEventLoop()
            defer { _ = try? made.close() }
            let another = try newEventLoop()
            defer { _ = try? another.close() }
            let current = try getEventLoop()
            defer { _ = try? current.close() }
            return (made, another, current, made.isRunning)
        }
        #expect(made !== another)
        #expect(current !== made)
        #expect(current !== another)
        #expect(!isRunning)
    }

    @Test("newEventLoop does not replace a loop already set on the thread")
    func newEventLoopKeepsSet() throws {
        let (set, got) = try onNewThread { () -> (EventLoop, EventLoop) in
            let set = try EventLoop()
            defer { _ = try? set.close() }
            setEventLoop(set)
            let made = try newEventLoop()
            defer { _ = try? made.close() }
            return (set, try getEventLoop())
        }
        #expect(got === set)
    }

    @Test("loops set on two threads are independent: each thread gets its own, and clearing one leaves the other",
          arguments: 0..<5)
    func perThread(repetition: Int) throws {
        let loops = (try EventLoop(), try EventLoop())
        defer { _ = try? loops.0.close(); _ = try? loops.1.close() }
        let (one, two) = (loops.0, loops.1)
        let bothSet = FutureTesting.StartLine(parties: 2)
        let oneCleared = FutureTesting.Event()
        let seen = Locked<[String: ObjectIdentifier?]>([:])
        let thread1 = JoinableThread {
            setEventLoop(one)
            bothSet.arriveAndWait()
            seen.withLock { $0["1 while both set"] = (try? getEventLoop()).map(ObjectIdentifier.init) }
            setEventLoop(nil)
            oneCleared.signal()
        }
        let thread2 = JoinableThread {
            setEventLoop(two)
            bothSet.arriveAndWait()
            seen.withLock { $0["2 while both set"] = (try? getEventLoop()).map(ObjectIdentifier.init) }
            _ = oneCleared.wait()
            seen.withLock { $0["2 after 1 cleared"] = (try? getEventLoop()).map(ObjectIdentifier.init) }
            setEventLoop(nil)
        }
        thread1.join()
        thread2.join()
        let results = seen.value
        #expect(results["1 while both set"] == ObjectIdentifier(one))
        #expect(results["2 while both set"] == ObjectIdentifier(two))
        #expect(results["2 after 1 cleared"] == ObjectIdentifier(two))
    }

    @Test("a loop set on one thread is not seen by another thread, which gets a loop of its own")
    func notSharedWithOtherThreads() throws {
        let set = try EventLoop()
        defer { _ = try? set.close() }
        let ready = FutureTesting.Event(), checked = FutureTesting.Event()
        let owner = JoinableThread {
            setEventLoop(set)
            ready.signal()
            _ = checked.wait()
            setEventLoop(nil)
        }
        defer { owner.join() }
        try ready.require("the owner thread's setEventLoop")
        let other = try onNewThread { () -> EventLoop in
            let loop = try getEventLoop()
            try loop.close()
            return loop
        }
        checked.signal()
        #expect(other !== set)
    }

    @Test("the set loop is kept alive by the thread (a strong reference) until it is cleared")
    func setLoopIsRetained() throws {
        let (aliveWhileSet, aliveAfterClear) = try onNewThread { () -> (Bool, Bool) in
            weak var weakLoop: EventLoop?
            do {
                let loop = try EventLoop()
                try loop.close()
                weakLoop = loop
                setEventLoop(loop)
            }
            let aliveWhileSet = weakLoop != nil
            setEventLoop(nil)
            return (aliveWhileSet, weakLoop != nil)
        }
        #expect(aliveWhileSet)
        #expect(!aliveAfterClear)
    }

    // MARK: One loop per thread, one thread per loop

    @Test("from a callback of loop A, B.runForever() throws anotherLoopRunningOnThisThread, and B is unchanged")
    func twoLoopsOneThread() throws {
        let (inner, bRunsLater) = try onNewThread { () -> (Result<Void, any Error>?, Bool) in
            let a = try EventLoop(), b = try EventLoop()
            defer { _ = try? a.close(); _ = try? b.close() }
            let inner = LoopConfined<Result<Void, any Error>?>(nil)
            try a.callSoon {
                b.stop()  // makes B return at once should it run after all (instead of hanging)
                a.stop()
                inner.value = Result { try b.runForever() }
            }
            try a.runForever()
            // B was not touched: it still runs normally on this thread.
            let bRan = LoopConfined(false)
            try b.callSoon { b.stop(); bRan.value = true }
            try b.runForever()
            return (inner.value, bRan.value)
        }
        #expect(throws: EventLoopError.anotherLoopRunningOnThisThread) { try #require(inner).get() }
        #expect(bRunsLater)
    }

    @Test("from a callback of loop A, B.runUntilComplete() throws anotherLoopRunningOnThisThread")
    func runUntilCompleteOfAnotherLoop() throws {
        let inner = try onNewThread { () -> Result<Int, any Error>? in
            let a = try EventLoop(), b = try EventLoop()
            defer { _ = try? a.close(); _ = try? b.close() }
            let inner = LoopConfined<Result<Int, any Error>?>(nil)
            try a.callSoon {
                let future = b.createFuture(of: Int.self)
                b.stop()  // makes B return at once should it run after all (instead of hanging)
                a.stop()
                inner.value = Result { try b.runUntilComplete(future) }
                a.stop()
            }
            try a.runForever()
            return inner.value
        }
        #expect(throws: EventLoopError.anotherLoopRunningOnThisThread) { try #require(inner).get() }
    }

    @Test("while loop A runs on one thread, A.runForever() on another thread throws runningOnAnotherThread",
          arguments: 0..<5)
    func oneLoopTwoThreads(repetition: Int) throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        try a.drain()  // A is running now, and keeps running until shutDown
        let outcome = try onNewThread { Result { try a.loop.runForever() } }
        #expect(throws: EventLoopError.runningOnAnotherThread) { try outcome.get() }
        // A is unaffected: still running on its own thread.
        #expect(a.loop.isRunning)
        #expect(try a.sync { a.loop.isOnLoopThread })
    }

    @Test("runForever from one of the loop's own callbacks throws reentrantRun")
    func reentrantRunForever() throws {
        let inner = try onNewThread { () -> Result<Void, any Error>? in
            let loop = try EventLoop()
            defer { _ = try? loop.close() }
            let inner = LoopConfined<Result<Void, any Error>?>(nil)
            try loop.callSoon {
                loop.stop()
                inner.value = Result { try loop.runForever() }
                loop.stop()  // in case the inner run happened after all and cleared the stop
            }
            try loop.runForever()
            return inner.value
        }
        #expect(throws: EventLoopError.reentrantRun) { try #require(inner).get() }
    }

    @Test("after a loop stops on one thread, another thread can run it, and getRunningLoop follows it")
    func loopMovesBetweenThreads() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let seenOn = Locked<[Bool]>([])
        for _ in 0..<3 {
            let result = try onNewThread { () -> Bool in
                let same = LoopConfined(false)
                try loop.callSoon {
                    loop.stop()
                    same.value = (try? getRunningLoop()) === loop && loop.isOnLoopThread
                }
                try loop.runForever()
                return same.value && (try? getRunningLoop()) == nil
            }
            seenOn.withLock { $0.append(result) }
        }
        #expect(seenOn.value == [true, true, true])
    }
}
