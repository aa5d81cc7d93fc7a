import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `Future.wait(timeout:)`: a plain thread blocking on a future.
/// asyncio: `concurrent.futures.Future.result(timeout)`.
@Suite("Future blocking wait", .timeLimit(.minutes(5)))
struct FutureWaitTests {
    typealias Boom = FutureTesting.Boom
    typealias Event = FutureTesting.Event
    typealias LoopThread = FutureTesting.LoopThread
    typealias StartLine = FutureTesting.StartLine

    static let generous = FutureTesting.generousSeconds

    // MARK: Outcomes

    @Test("wait returns the result that another thread sets", arguments: 0..<5)
    func resultFromAnotherThread(repetition: Int) throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let setter = JoinableThread { try! future.setResult(repetition + 100) }
        defer { setter.join() }
        #expect(try future.wait(timeout: Self.generous) == repetition + 100)
    }

    @Test("wait with no timeout returns the result that another thread sets")
    func noTimeout() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let setter = JoinableThread { try! future.setResult(8) }
        defer { setter.join() }
        #expect(try future.wait() == 8)
    }

    @Test("wait with an infinite timeout returns the result that another thread sets")
    func infiniteTimeout() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let setter = JoinableThread { try! future.setResult(9) }
        defer { setter.join() }
        #expect(try future.wait(timeout: .infinity) == 9)
    }

    @Test("wait returns the result that a callback of the loop sets")
    func resultFromTheLoop() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: String.self)
        try a.loop.callSoon { try future.setResult("from the loop") }
        #expect(try future.wait(timeout: Self.generous) == "from the loop")
    }

    @Test("wait on a done future returns at once, even with a zero timeout")
    func alreadyDone() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        try future.setResult(4)
        #expect(try future.wait(timeout: 0) == 4)
        #expect(try future.wait(timeout: -1) == 4)
        #expect(try future.wait() == 4)
    }

    @Test("wait rethrows the error the future completes with")
    func rethrowsTheError() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let setter = JoinableThread { try! future.setException(Boom(code: 12)) }
        defer { setter.join() }
        #expect(throws: Boom(code: 12)) { try future.wait(timeout: Self.generous) }
    }

    @Test("wait throws CancelledError, with its message, when another thread cancels the future")
    func cancelledWhileWaiting() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let canceller = JoinableThread { future.cancel(message: "no longer needed") }
        defer { canceller.join() }
        #expect(throws: CancelledError(message: "no longer needed")) { try future.wait(timeout: Self.generous) }
    }

    // MARK: Timeouts

    @Test("wait with a short timeout on a future nobody completes throws timedOut, and leaves the future pending and usable")
    func timesOut() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        #expect(throws: FutureWaitError.timedOut(seconds: 0.01)) { try future.wait(timeout: 0.01) }
        #expect(!future.isDone)
        #expect(throws: FutureWaitError.timedOut(seconds: 0.001)) { try future.wait(timeout: 0.001) }
        // Still usable: it can be completed, and a second wait gets the result.
        let setter = JoinableThread { try! future.setResult(21) }
        defer { setter.join() }
        #expect(try future.wait(timeout: Self.generous) == 21)
        #expect(try future.result() == 21)
    }

    @Test("a timed-out wait does not hold back the done callbacks of the future")
    func timeoutLeavesCallbacks() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let runs = Locked(0)
        try future.addDoneCallback { _ in runs.withLock { $0 += 1 } }
        #expect(throws: FutureWaitError.timedOut(seconds: 0.005)) { try future.wait(timeout: 0.005) }
        try future.addDoneCallback { _ in runs.withLock { $0 += 1 } }
        try future.setResult(1)
        try a.drain()
        #expect(runs.value == 2)
    }

    @Test("wait with a zero or negative timeout on a pending future only checks: it throws timedOut",
          arguments: [0.0, -1.0, -0.0, -Double.greatestFiniteMagnitude])
    func zeroOrNegativeTimeout(timeout: Double) throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let (returned, outcome) = waitExpectedToReturnAtOnce(future, timeout: timeout)
        #expect(returned, "wait(timeout: \(timeout)) blocked")
        let result = try #require(outcome)
        let error = #expect(throws: FutureWaitError.self) { try result.get() }
        guard case .timedOut(let seconds) = error else {
            Issue.record("expected timedOut, got \(String(describing: error))")
            return
        }
        #expect(seconds == timeout)
        #expect(!future.isDone)
    }

    /// Waits on `future` from a new thread with `timeout`, for a wait that must return at once.
    /// Should it block instead, the future is completed with -1 after `generousSeconds` to
    /// release it, so that the test fails rather than hangs.
    private func waitExpectedToReturnAtOnce(_ future: Future<Int>, timeout: Double) -> (returned: Bool, Result<Int, any Error>?) {
        let outcome = Locked<Result<Int, any Error>?>(nil)
        let returned = Event()
        let waiter = JoinableThread {
            let result = Result { try future.wait(timeout: timeout) }
            outcome.withLock { $0 = result }
            returned.signal()
        }
        let returnedInTime = returned.wait()
        if !returnedInTime { try? future.setResult(-1) }
        waiter.join()
        return (returnedInTime, outcome.value)
    }

    /// The contract says "zero or negative only checks": minus infinity is negative.
    @Test("wait with a timeout of minus infinity on a pending future only checks: it throws timedOut")
    func minusInfinityTimeout() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let (returned, outcome) = waitExpectedToReturnAtOnce(future, timeout: -.infinity)
        #expect(returned, "wait(timeout: -.infinity) blocked")
        let result = try #require(outcome)
        #expect(throws: FutureWaitError.timedOut(seconds: -.infinity)) { try result.get() }
    }

    @Test("wait with a NaN timeout on a pending future throws invalidTimeout")
    func nanTimeout() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let (returned, outcome) = waitExpectedToReturnAtOnce(future, timeout: .nan)
        #expect(returned, "wait(timeout: .nan) blocked")
        let result = try #require(outcome)
        let error = #expect(throws: FutureWaitError.self) { try result.get() }
        guard case .invalidTimeout(let value) = error else {
            Issue.record("expected invalidTimeout, got \(String(describing: error))")
            return
        }
        #expect(value.isNaN)
        #expect(!future.isDone)
    }

    @Test("a wait racing a completion with a tiny timeout either returns the value or times out, never loses the result and never hangs",
          arguments: [1e-9, 1e-6, 1e-5, 1e-4])
    func timeoutRacesCompletion(timeout: Double) throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let rounds = 300
        var returnedValue = 0, timedOut = 0
        for round in 0..<rounds {
            let future = loop.createFuture(of: Int.self)
            let start = StartLine(parties: 2)
            let outcome = Locked<Result<Int, any Error>?>(nil)
            let waiter = JoinableThread {
                start.arriveAndWait()
                let result = Result { try future.wait(timeout: timeout) }
                outcome.withLock { $0 = result }
            }
            start.arriveAndWait()
            try future.setResult(round)
            waiter.join()
            switch try #require(outcome.value) {
            case .success(let value):
                try #require(value == round, "round \(round): wait returned \(value)")
                returnedValue += 1
            case .failure(let error):
                try #require(error as? FutureWaitError == .timedOut(seconds: timeout), "round \(round): \(error)")
                timedOut += 1
            }
            // Whatever the waiter saw, the result is there for the next reader.
            #expect(try future.wait(timeout: Self.generous) == round)
        }
        #expect(returnedValue + timedOut == rounds)
    }

    // MARK: Many waiters

    @Test("16 threads waiting on one future all wake with its value", arguments: 0..<5)
    func manyWaiters(repetition: Int) throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let waiters = 16
        let woke = Locked(0), wrong = Locked(0)
        let started = StartLine(parties: waiters + 1)
        let threads = (0..<waiters).map { _ in
            JoinableThread {
                started.arriveAndWait()
                switch Result(catching: { try future.wait(timeout: Self.generous) }) {
                case .success(let value) where value == repetition: woke.withLock { $0 += 1 }
                default: wrong.withLock { $0 += 1 }
                }
            }
        }
        started.arriveAndWait()
        try future.setResult(repetition)
        threads.forEach { $0.join() }
        #expect(woke.value == waiters)
        #expect(wrong.value == 0)
    }

    @Test("16 threads waiting on one future all wake with CancelledError when it is cancelled")
    func manyWaitersCancelled() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let waiters = 16
        let cancelled = Locked(0)
        let started = StartLine(parties: waiters + 1)
        let threads = (0..<waiters).map { _ in
            JoinableThread {
                started.arriveAndWait()
                do {
                    _ = try future.wait(timeout: Self.generous)
                } catch is CancelledError {
                    cancelled.withLock { $0 += 1 }
                } catch {}
            }
        }
        started.arriveAndWait()
        #expect(future.cancel())
        threads.forEach { $0.join() }
        #expect(cancelled.value == waiters)
    }

    @Test("waiters with short and generous timeouts mixed: the short ones time out, the generous ones get the value")
    func mixedTimeouts() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: Int.self)
        let shortTimedOut = Locked(0), generousGotValue = Locked(0)
        let shortDone = Locked(0)
        let allShortDone = Event()
        let short = (0..<4).map { _ in
            JoinableThread {
                if (try? future.wait(timeout: 0.001)) == nil { shortTimedOut.withLock { $0 += 1 } }
                if shortDone.withLock({ $0 += 1; return $0 }) == 4 { allShortDone.signal() }
            }
        }
        let generous = (0..<4).map { _ in
            JoinableThread {
                if (try? future.wait(timeout: Self.generous)) == 5 { generousGotValue.withLock { $0 += 1 } }
            }
        }
        try allShortDone.require("the short waits")
        try future.setResult(5)
        (short + generous).forEach { $0.join() }
        #expect(shortTimedOut.value == 4)
        #expect(generousGotValue.value == 4)
    }

    // MARK: On a loop thread

    @Test("wait from a loop callback on a pending future throws wouldBlockRunningLoop instead of deadlocking")
    func refusedOnLoopThread() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        let outcome = try a.sync { Result { try future.wait(timeout: Self.generous) } }
        #expect(throws: FutureWaitError.wouldBlockRunningLoop) { try outcome.get() }
        #expect(!future.isDone)
    }

    @Test("wait from a loop callback is refused even for a future of another loop, and even with no timeout")
    func refusedForAnotherLoopsFuture() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let other = try EventLoop()
        defer { _ = try? other.close() }
        let future = other.createFuture(of: Int.self)
        // Should the refusal be missing, this releases the blocked loop thread before shutDown.
        defer { _ = try? future.setResult(0) }
        let outcome = try a.sync { Result { try future.wait() } }
        #expect(throws: FutureWaitError.wouldBlockRunningLoop) { try outcome.get() }
    }

    @Test("wait from a loop callback on a done future returns its result")
    func doneOnLoopThread() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        let future = a.loop.createFuture(of: Int.self)
        try future.setResult(6)
        #expect(try a.sync { try future.wait(timeout: Self.generous) } == 6)
        let failed = a.loop.createFuture(of: Int.self)
        try failed.setException(Boom(code: 1))
        let outcome = try a.sync { Result { try failed.wait() } }
        #expect(throws: Boom(code: 1)) { try outcome.get() }
    }

    @Test("wait on a thread whose loop only is set (not running) blocks normally and gets the result")
    func setLoopDoesNotRefuse() throws {
        let value = FutureTesting.onNewThread { () -> Int in
            let loop = try EventLoop()
            defer { _ = try? loop.close() }
            setEventLoop(loop)
            let future = loop.createFuture(of: Int.self)
            let setter = JoinableThread { try! future.setResult(17) }
            defer { setter.join() }
            return try future.wait(timeout: Self.generous)
        }
        #expect(try value.get() == 17)
    }
}
