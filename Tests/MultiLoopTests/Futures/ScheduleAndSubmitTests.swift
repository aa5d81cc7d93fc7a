import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("EventLoop.submit and schedule(after:): futures of a closure's result", .timeLimit(.minutes(5)))
struct ScheduleAndSubmitTests {
    @Test("submit runs the closure on the loop and completes the future with its value or error")
    func submit() throws {
        let loop = try EventLoop()
        try withLoopOnThread(loop) { () throws in
            #expect(try loop.submit { loop.isOnLoopThread }.wait(timeout: 60))
            #expect(throws: FutureTesting.Boom(code: 3)) {
                try loop.submit { () throws -> Int in throw FutureTesting.Boom(code: 3) }.wait(timeout: 60)
            }
        }
        #expect(throws: EventLoopError.closed) { try loop.submit { 1 } }
    }

    @Test("a submit accepted before close runs during close(); cancelled before it runs, it never runs")
    func submitAndClose() throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        let kept = try loop.submit { ran.value += 1; return 1 }
        let cancelled = try loop.submit { ran.value += 10; return 2 }
        #expect(cancelled.cancel())
        let report = try loop.close()
        #expect(report.callbacksRun == 2)
        #expect(ran.value == 1)
        #expect(try kept.result() == 1)
        #expect(cancelled.isCancelled)
    }

    @Test("schedule(after:) completes its future on the loop, after the delay")
    func scheduleFires() throws {
        let loop = try EventLoop()
        try withLoopOnThread(loop) { () throws in
            let start = loop.time()
            let future = try loop.schedule(after: 0.01) { (loop.isOnLoopThread, loop.time()) }
            let (onLoop, firedAt) = try future.wait(timeout: 60)
            #expect(onLoop)
            #expect(firedAt >= start + 0.01)
            #expect(throws: FutureTesting.Boom()) {
                try loop.schedule(after: 0) { () throws -> Int in throw FutureTesting.Boom() }.wait(timeout: 60)
            }
        }
    }

    @Test("cancelling the future cancels the timer: the body never runs")
    func scheduleCancelled() throws {
        let loop = try EventLoop()
        let ran = LoopConfined(false)
        try withLoopOnThread(loop) { () throws in
            let future = try loop.schedule(after: 0.02) { ran.value = true }
            #expect(future.cancel())
            let later = try loop.schedule(after: 0.05) { 1 }
            #expect(try later.wait(timeout: 60) == 1)
        }
        #expect(!ran.value)
    }

    @Test("closing the loop fails pending scheduled futures with .closed and reports their timers")
    func scheduleAtClose() throws {
        let loop = try EventLoop()
        let pending = try (0..<3).map { _ in try loop.schedule(after: 3600) { 1 } }
        let handled = Locked(0)
        loop.setExceptionHandler { _, _ in handled.withLock { $0 += 1 } }
        let report = try loop.close()
        #expect(report.timersCancelled == 3)
        for future in pending {
            #expect(throws: EventLoopError.closed) { try future.result() }
        }
        #expect(handled.value == 0)
        #expect(throws: EventLoopError.invalidDelay(.infinity)) { try loop.schedule(after: .infinity) { 1 } }
        #expect(throws: EventLoopError.closed) { try loop.schedule(after: 1) { 1 } }
    }

    @Test("a task sleeping when its loop closes ends its sleep with CancellationError")
    func sleepAtClose() async throws {
        let loop = try EventLoop()
        let reports = Locked<[String]>([])
        loop.setExceptionHandler { _, context in reports.withLock { $0.append(context.message) } }
        let task = LoopConfined<LoopTask<String>?>(nil)
        try loop.callSoon {
            loop.stop()
            task.value = loop.createTask(eager: true) { () async -> String in
                do {
                    try await EventLoop.sleep(3600)
                    return "woke"
                } catch {
                    return "\(type(of: error))"
                }
            }
        }
        try loop.runForever()
        let report = try loop.close()
        #expect(report.timersCancelled == 1)
        // Resumed during close, at once: its next job found the loop closed and went to Swift's
        // global executor, which the close told the handler before returning.
        try #require(reports.value.contains { $0.contains("runs on the global executor instead") }, "\(reports.value)")
        // There the task ends, once the pool gets to it (see `globalPoolSeconds`).
        let outcome = try await pollUntilDone(try #require(task.value).future)
        #expect(outcome == "CancellationError")
    }
}
