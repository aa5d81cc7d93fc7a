import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem
import MultiLoopTestSupport

@Suite("The iteration (asyncio's _run_once)", .timeLimit(.minutes(5)))
struct IterationTests {
    @Test("a callback scheduled during a batch runs in the next iteration, not the current one")
    func scheduledDuringBatchRunsNextIteration() throws {
        let loop = try EventLoop()
        let iterations = LoopConfined<[UInt64]>([])
        try loop.callSoon {
            iterations.value.append(loop.counters.iterations)
            try loop.callSoon {
                iterations.value.append(loop.counters.iterations)
                loop.stop()
            }
        }
        try loop.runForever()
        try loop.close()
        #expect(iterations.value.count == 2)
        #expect(iterations.value[1] == iterations.value[0] + 1)
    }

    @Test("due timers run after the callbacks that were already ready")
    func dueTimersAfterReadyCallbacks() throws {
        let loop = try EventLoop()
        let order = LoopConfined<[String]>([])
        try loop.callSoon {
            // The timer is scheduled first and is already due, yet ready callbacks go first.
            try loop.callAt(loop.time() - 1) { order.value.append("timer"); loop.stop() }
            try loop.callSoon { order.value.append("soon-1") }
            try loop.callSoon { order.value.append("soon-2") }
            // A negative delay is accepted and is simply an earlier deadline.
            try loop.callLater(-5) { order.value.append("negative-delay") }
        }
        try loop.runForever()
        try loop.close()
        #expect(order.value == ["soon-1", "soon-2", "negative-delay", "timer"])
    }

    @Test("timers with equal deadlines fire in the order they were scheduled (FIFO)")
    func equalDeadlinesFireFIFO() throws {
        let loop = try EventLoop()
        let fired = LoopConfined<[Int]>([])
        let when = loop.time() + 0.02
        for index in 0..<500 {
            try loop.callAt(when) { fired.value.append(index) }
        }
        try loop.callAt(when) { loop.stop() }
        try loop.runForever()
        try loop.close()
        #expect(fired.value == Array(0..<500))
    }

    @Test("timers fire in deadline order and never before their deadline", arguments: 0..<3)
    func timersFireInDeadlineOrderNeverEarly(round: Int) throws {
        let loop = try EventLoop()
        var generator = StressRandom(seed: UInt64(round + 1))
        let records = LoopConfined<[(when: Double, firedAt: Double, index: Int)]>([])
        let base = loop.time()
        var deadlines: [Double] = []
        for index in 0..<300 {
            let when = base + Double(generator.next() % 40) / 1000.0
            deadlines.append(when)
            try loop.callAt(when) { records.value.append((when, loop.time(), index)) }
        }
        try loop.callAt(base + 0.05) { loop.stop() }
        try loop.runForever()
        try loop.close()
        #expect(records.value.count == 300)
        #expect(records.value.allSatisfy { $0.firedAt >= $0.when })
        let expected = deadlines.enumerated().sorted { ($0.element, $0.offset) < ($1.element, $1.offset) }.map(\.offset)
        #expect(records.value.map(\.index) == expected)
    }

    @Test("stop() before runForever makes it run exactly one iteration and return")
    func stopBeforeRunForeverRunsOneIteration() throws {
        let loop = try EventLoop()
        let errors = ErrorLog()
        errors.install(on: loop)
        let runs = LoopConfined(0)
        @Sendable func again() throws {
            runs.value += 1
            try loop.callSoon(again)
        }
        try loop.callSoon(again)
        loop.stop()
        try loop.runForever()
        #expect(runs.value == 1)
        #expect(loop.statistics.iterations == 1)
        // The stop was consumed: the next run needs its own stop.
        try loop.callSoon { loop.stop() }
        try loop.runForever()
        #expect(runs.value >= 2)
        // close() runs the pending `again` once more; its own callSoon is refused and reported.
        let report = try loop.close()
        #expect(report.callbacksRun == 1)
        #expect(errors.count == 1)
        #expect(errors.all.first?.error as? EventLoopError == .closed)
    }

    @Test("stop() called on the loop thread before runForever also gives one iteration")
    func stopFromCallbackBetweenRuns() throws {
        let loop = try EventLoop()
        try loop.callSoon { loop.stop() }
        try loop.runForever()
        let before = loop.statistics.iterations
        loop.stop()
        try loop.runForever()
        #expect(loop.statistics.iterations == before + 1)
        try loop.close()
    }

    @Test("a stop() from another thread wakes a sleeping loop", arguments: 0..<5)
    func foreignStopWakesSleepingLoop(round: Int) throws {
        let loop = try EventLoop()
        let thread = JoinableThread { try! loop.runForever() }
        // Give the loop a chance to fall asleep; correctness does not depend on it.
        for _ in 0..<round { _ = try onLoopOrNil(loop) }
        loop.stop()
        thread.join()
        #expect(!loop.isRunning)
        try loop.close()
    }

    @Test("isRunning is true inside callbacks and false before and after")
    func isRunningReflectsTheRun() throws {
        let loop = try EventLoop()
        let seen = LoopConfined<Bool?>(nil)
        #expect(!loop.isRunning)
        try loop.callSoon { seen.value = loop.isRunning && loop.isOnLoopThread; loop.stop() }
        try loop.runForever()
        #expect(seen.value == true)
        #expect(!loop.isRunning)
        #expect(!loop.isOnLoopThread)
        try loop.close()
    }

    @Test("time() is monotonic seconds")
    func timeIsMonotonic() throws {
        let loop = try EventLoop()
        var previous = loop.time()
        for _ in 0..<10_000 {
            let now = loop.time()
            #expect(now >= previous)
            previous = now
        }
        try loop.close()
    }

    @Test("an iteration takes at most 1024 items from a lane; the rest run in the next ones, in order")
    func drainLimitPerLane() throws {
        let loop = try EventLoop()
        let items = 2 * EventLoop.drainLimitPerLane + 500
        let ran = LoopConfined([Int]())
        // Published from another thread while the loop is not running: one lane holds them all.
        JoinableThread.runAll(1) { _ in
            for sequence in 0..<items { try! loop.execute { ran.value.append(sequence) } }
        }
        var perIteration: [Int] = []
        for _ in 0..<3 {
            let before = ran.value.count
            loop.stop()  // from this thread: the next run does exactly one iteration
            try loop.runForever()
            perIteration.append(ran.value.count - before)
        }
        try loop.close()
        #expect(perIteration == [EventLoop.drainLimitPerLane, EventLoop.drainLimitPerLane, 500])
        #expect(ran.value == Array(0..<items))
    }

    @Test("the gather pause is 1 µs, and none for a loop that never spins")
    func gatherPauseFollowsSpin() throws {
        let spinning = try EventLoop()
        let notSpinning = try EventLoop(spinBeforeSleep: .zero)
        let shortSpin = try EventLoop(spinBeforeSleep: .nanoseconds(300))
        #expect(spinning.gatherNanoseconds == 1_000)
        #expect(notSpinning.gatherNanoseconds == 0)
        #expect(shortSpin.gatherNanoseconds == 300)
        for loop in [spinning, notSpinning, shortSpin] { try loop.close() }
    }

    @Test("a stream from one producer runs exactly once and in order, with and without the gather",
          arguments: [Duration.microseconds(20), .zero])
    func streamWithGather(spin: Duration) throws {
        let loop = try EventLoop(spinBeforeSleep: spin)
        let items = 100_000
        let next = LoopConfined(0)
        let outOfOrder = LoopConfined(0)
        let loopThread = JoinableThread { try! loop.runForever() }
        JoinableThread.runAll(1) { _ in
            for sequence in 0..<items {
                try! loop.execute {
                    if next.value != sequence { outOfOrder.value += 1 }
                    next.value += 1
                }
            }
        }
        loop.stop()
        loopThread.join()
        try loop.close()
        #expect(next.value == items)
        #expect(outOfOrder.value == 0)
        #expect(loop.statistics.callbacksRun >= UInt64(items))
    }
}

/// Round-trips once through a running loop (a callback completing a future).
func onLoopOrNil(_ loop: EventLoop) throws -> Bool {
    try onLoop(loop) { true }
}
