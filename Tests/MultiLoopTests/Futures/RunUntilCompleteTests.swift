import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `EventLoop.runUntilComplete(_:)`. asyncio: `loop.run_until_complete(future)`.
///
/// Each test runs the loop under test on a thread it starts itself (see `onNewThread`), so
/// that the thread's running-loop slot is known to be empty.
@Suite("runUntilComplete", .timeLimit(.minutes(5)))
struct RunUntilCompleteTests {
    typealias Boom = FutureTesting.Boom
    typealias LoopThread = FutureTesting.LoopThread

    private func onNewThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try FutureTesting.onNewThread(body).get()
    }

    @Test("runUntilComplete returns the result that a callback of the loop sets")
    func returnsResult() throws {
        let value = try onNewThread { () -> Int in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            try loop.callSoon { try future.setResult(31) }
            return try loop.runUntilComplete(future)
        }
        #expect(value == 31)
    }

    @Test("runUntilComplete keeps running the loop through several iterations until the future completes")
    func severalIterations() throws {
        let (value, iterations) = try onNewThread { () -> (Int, UInt64) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            // Each step schedules the next one: the future completes in the 10th iteration.
            @Sendable func step(_ remaining: Int) throws {
                if remaining == 0 { try future.setResult(10) } else { try loop.callSoon { try step(remaining - 1) } }
            }
            try loop.callSoon { try step(9) }
            let value = try loop.runUntilComplete(future)
            return (value, loop.statistics.iterations)
        }
        #expect(value == 10)
        #expect(iterations >= 10)
    }

    @Test("runUntilComplete rethrows the error the future completes with")
    func rethrowsTheError() throws {
        let outcome = try onNewThread { () -> Result<Int, any Error> in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            try loop.callSoon { try future.setException(Boom(code: 2)) }
            return Result { try loop.runUntilComplete(future) }
        }
        #expect(throws: Boom(code: 2)) { try outcome.get() }
    }

    @Test("runUntilComplete throws CancelledError when the future is cancelled")
    func cancelled() throws {
        let outcome = try onNewThread { () -> Result<Int, any Error> in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            try loop.callSoon { future.cancel(message: "stop waiting") }
            return Result { try loop.runUntilComplete(future) }
        }
        #expect(throws: CancelledError(message: "stop waiting")) { try outcome.get() }
    }

    @Test("runUntilComplete returns the result that a plain thread sets", arguments: 0..<10)
    func completedByPlainThread(repetition: Int) throws {
        let value = try onNewThread { () -> Int in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            let setter = JoinableThread { try! future.setResult(repetition) }
            defer { setter.join() }
            return try loop.runUntilComplete(future)
        }
        #expect(value == repetition)
    }

    @Test("runUntilComplete returns the result that another loop sets from its own thread", arguments: 0..<5)
    func completedByAnotherLoop(repetition: Int) throws {
        let b = try LoopThread()
        defer { b.shutDown() }
        let value = try onNewThread { () -> Int in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            try b.loop.callSoon { try future.setResult(repetition * 2) }
            return try loop.runUntilComplete(future)
        }
        #expect(value == repetition * 2)
    }

    @Test("runUntilComplete accepts a future of another loop, completed by that loop")
    func foreignFuture() throws {
        let b = try LoopThread()
        defer { b.shutDown() }
        let value = try onNewThread { () -> String in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = b.loop.createFuture(of: String.self)
            try b.loop.callSoon { try future.setResult("b's future") }
            return try loop.runUntilComplete(future)
        }
        #expect(value == "b's future")
    }

    @Test("runUntilComplete on an already-done future returns its result after exactly one iteration, and the loop is not left running")
    func alreadyDone() throws {
        let (value, running, iterations) = try onNewThread { () -> (Int, Bool, UInt64) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            try future.setResult(13)
            let value = try loop.runUntilComplete(future)
            return (value, loop.isRunning, loop.statistics.iterations)
        }
        #expect(value == 13)
        #expect(!running)
        #expect(iterations == 1)
    }

    @Test("runUntilComplete runs the callbacks scheduled before it, and then returns")
    func runsOtherCallbacks() throws {
        let ran = try onNewThread { () -> [Int] in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let order = LoopConfined<[Int]>([])
            let future = loop.createFuture(of: Int.self)
            try loop.callSoon { order.value.append(1) }
            try loop.callSoon { order.value.append(2); try future.setResult(0) }
            _ = try loop.runUntilComplete(future)
            return order.value
        }
        #expect(ran == [1, 2])
    }

    @Test("stop() before the future completes makes runUntilComplete throw stoppedBeforeFutureCompleted, and a second run completes it")
    func stoppedBeforeCompletion() throws {
        let (first, second, doneAfterFirst) = try onNewThread { () -> (Result<Int, any Error>, Result<Int, any Error>, Bool) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            try loop.callSoon { try getRunningLoop().stop() }
            let first = Result { try loop.runUntilComplete(future) }
            let doneAfterFirst = future.isDone
            try loop.callSoon { try future.setResult(77) }
            let second = Result { try loop.runUntilComplete(future) }
            return (first, second, doneAfterFirst)
        }
        #expect(throws: EventLoopError.stoppedBeforeFutureCompleted) { try first.get() }
        #expect(!doneAfterFirst)
        #expect(try second.get() == 77)
    }

    @Test("after a stopped runUntilComplete, the future's later completion does not stop an unrelated run")
    func stoppedRunLeavesNoStopBehind() throws {
        let (stoppedEarly, ranAfter) = try onNewThread { () -> (Bool, Bool) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let first = loop.createFuture(of: Int.self)
            try loop.callSoon { try getRunningLoop().stop() }
            _ = try? loop.runUntilComplete(first)
            // Now `first` completes during a run for `second`: that must not end the run.
            let second = loop.createFuture(of: Int.self)
            let ranAfter = LoopConfined(false)
            try loop.callSoon {
                try first.setResult(1)
                try loop.callSoon {
                    try loop.callSoon {
                        ranAfter.value = true
                        try second.setResult(2)
                    }
                }
            }
            let value = try loop.runUntilComplete(second)
            return (value != 2, ranAfter.value)
        }
        #expect(!stoppedEarly)
        #expect(ranAfter)
    }

    @Test("stop() in the same callback that completes the future does not hide the result, and the next run is not cut short")
    func stoppedAsItCompletes() throws {
        let (first, second, ranAfter) = try onNewThread { () -> (Int, Int, Bool) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            try loop.callSoon {
                try future.setResult(1)
                loop.stop()
            }
            let first = try loop.runUntilComplete(future)
            // The first run's own stop callback never ran (it was removed): it must not end this one.
            let next = loop.createFuture(of: Int.self)
            let ranAfter = LoopConfined(false)
            try loop.callSoon {
                try loop.callSoon {
                    ranAfter.value = true
                    try next.setResult(2)
                }
            }
            return (first, try loop.runUntilComplete(next), ranAfter.value)
        }
        #expect(first == 1)
        #expect(second == 2)
        #expect(ranAfter)
    }

    @Test("stop() from another thread before the future completes makes runUntilComplete throw stoppedBeforeFutureCompleted")
    func stoppedFromAnotherThread() throws {
        let outcome = try onNewThread { () -> Result<Int, any Error> in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let future = loop.createFuture(of: Int.self)
            let stopper = JoinableThread { loop.stop() }
            defer { stopper.join() }
            return Result { try loop.runUntilComplete(future) }
        }
        #expect(throws: EventLoopError.stoppedBeforeFutureCompleted) { try outcome.get() }
    }

    @Test("runUntilComplete on a closed loop throws closed")
    func closedLoop() throws {
        let outcome = try onNewThread { () -> Result<Int, any Error> in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            try loop.close()
            let future = loop.createFuture(of: Int.self)
            return Result { try loop.runUntilComplete(future) }
        }
        #expect(throws: EventLoopError.closed) { try outcome.get() }
    }

    @Test("runUntilComplete on a closed loop throws closed even when the future is already done")
    func closedLoopDoneFuture() throws {
        let outcome = try onNewThread { () -> Result<Int, any Error> in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            let future = loop.createFuture(of: Int.self)
            try future.setResult(1)
            try loop.close()
            return Result { try loop.runUntilComplete(future) }
        }
        #expect(throws: EventLoopError.closed) { try outcome.get() }
    }

    @Test("runUntilComplete from one of the loop's own callbacks throws reentrantRun, and the outer run goes on")
    func reentrant() throws {
        let (inner, outer) = try onNewThread { () -> (Result<Int, any Error>?, Int) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let outerFuture = loop.createFuture(of: Int.self)
            let innerFuture = loop.createFuture(of: Int.self)
            let inner = LoopConfined<Result<Int, any Error>?>(nil)
            try loop.callSoon {
                inner.value = Result { try loop.runUntilComplete(innerFuture) }
                try loop.callSoon { try outerFuture.setResult(5) }
            }
            let outer = try loop.runUntilComplete(outerFuture)
            return (inner.value, outer)
        }
        let innerOutcome = try #require(inner)
        #expect(throws: EventLoopError.reentrantRun) { try innerOutcome.get() }
        #expect(outer == 5)
    }

    @Test("a reentrant runUntilComplete on an already-done future also throws reentrantRun and leaves no stop behind")
    func reentrantDoneFuture() throws {
        let (inner, laterRan) = try onNewThread { () -> (Result<Int, any Error>?, Bool) in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            let outerFuture = loop.createFuture(of: Int.self)
            let doneFuture = loop.createFuture(of: Int.self)
            try doneFuture.setResult(1)
            let inner = LoopConfined<Result<Int, any Error>?>(nil)
            let laterRan = LoopConfined(false)
            try loop.callSoon {
                inner.value = Result { try loop.runUntilComplete(doneFuture) }
                try loop.callSoon {
                    try loop.callSoon {
                        laterRan.value = true
                        try outerFuture.setResult(5)
                    }
                }
            }
            _ = try loop.runUntilComplete(outerFuture)
            return (inner.value, laterRan.value)
        }
        let innerOutcome = try #require(inner)
        #expect(throws: EventLoopError.reentrantRun) { try innerOutcome.get() }
        #expect(laterRan)
    }

    @Test("runUntilComplete while the loop runs on another thread throws runningOnAnotherThread")
    func runningElsewhere() throws {
        let a = try LoopThread()
        defer { a.shutDown() }
        try a.drain()  // the loop is running now, and stays so until shutDown
        let future = a.loop.createFuture(of: Int.self)
        let outcome = try onNewThread { Result { try a.loop.runUntilComplete(future) } }
        #expect(throws: EventLoopError.runningOnAnotherThread) { try outcome.get() }
    }

    @Test("a loop can run runUntilComplete many times in a row, each returning its own future's result")
    func manyRuns() throws {
        let values = try onNewThread { () -> [Int] in
            let loop = try EventLoop()
            try FutureTesting.armWatchdog(loop)
            defer { _ = try? loop.close() }
            var values: [Int] = []
            for index in 0..<50 {
                let future = loop.createFuture(of: Int.self)
                try loop.callSoon { try future.setResult(index) }
                values.append(try loop.runUntilComplete(future))
            }
            return values
        }
        #expect(values == Array(0..<50))
    }
}
