import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// Every misuse gets a typed error, never a crash or a hang (the "bad input" list of the loop
/// core). Futures' misuse is covered in Futures/.
@Suite("Misuse gets typed errors", .timeLimit(.minutes(5)))
struct MisuseTests {
    @Test("NaN and infinite delays and deadlines are refused", arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteDelaysAreRefused(value: Double) throws {
        let loop = try EventLoop()
        #expect(throws: EventLoopError.self) { try loop.callLater(value) {} }
        #expect(throws: EventLoopError.self) { try loop.callAt(value) {} }
        #expect(throws: EventLoopError.self) { try loop.callLater(value, { (_: Int) in }, 0) }
        do throws(EventLoopError) {
            try loop.callLater(value) {}
        } catch {
            guard case .invalidDelay(let reported) = error else { Issue.record("wrong error \(error)"); return }
            #expect(reported.isNaN == value.isNaN)
        }
        // Nothing was scheduled.
        #expect(try loop.close() == EventLoopCloseReport())
    }

    @Test("a negative delay runs as soon as possible, as in asyncio")
    func negativeDelayRunsSoon() throws {
        let loop = try EventLoop()
        let ran = LoopConfined(false)
        try loop.callLater(-1) { ran.value = true; loop.stop() }
        try loop.runForever()
        #expect(ran.value)
        try loop.close()
    }

    @Test("runForever from the loop's own callback is a re-entrant run")
    func reentrantRun() throws {
        let loop = try EventLoop()
        let error = LoopConfined<EventLoopError?>(nil)
        try loop.callSoon {
            do throws(EventLoopError) { try loop.runForever() } catch let caught { error.value = caught }
            loop.stop()
        }
        try loop.runForever()
        #expect(error.value == .reentrantRun)
        try loop.close()
    }

    @Test("one loop never runs on two threads")
    func loopRunsOnOneThreadOnly() throws {
        let loop = try EventLoop()
        try withLoopOnThread(loop) {
            _ = try onLoopOrNil(loop)  // it runs
            let secondThread = Locked<EventLoopError?>(nil)
            JoinableThread.runAll(1) { _ in
                do throws(EventLoopError) { try loop.runForever() } catch { secondThread.withLock { $0 = error } }
            }
            #expect(secondThread.value == .runningOnAnotherThread)
        }
    }

    @Test("two loops never run on one thread at once")
    func oneLoopPerThread() throws {
        let outer = try EventLoop()
        let inner = try EventLoop()
        let error = LoopConfined<EventLoopError?>(nil)
        try outer.callSoon {
            do throws(EventLoopError) { try inner.runForever() } catch let caught { error.value = caught }
            outer.stop()
        }
        try outer.runForever()
        #expect(error.value == .anotherLoopRunningOnThisThread)
        #expect(!inner.isRunning)
        try outer.close()
        try inner.close()
    }

    @Test("close while running, scheduling on a closed loop, running a closed loop: typed errors")
    func closedAndRunningLoops() throws {
        let loop = try EventLoop()
        let closeError = LoopConfined<EventLoopError?>(nil)
        try loop.callSoon {
            do throws(EventLoopError) { try loop.close() } catch { closeError.value = error }
            loop.stop()
        }
        try loop.runForever()
        #expect(closeError.value == .closeWhileRunning)
        try loop.close()
        #expect(throws: EventLoopError.closed) { try loop.runForever() }
        #expect(throws: EventLoopError.closed) { try loop.callSoonThreadsafe {} }
    }

    @Test("errors describe themselves")
    func errorDescriptions() {
        let all: [EventLoopError] = [.closed, .reentrantRun, .runningOnAnotherThread, .anotherLoopRunningOnThisThread,
                                     .closeWhileRunning, .invalidDelay(.nan), .noRunningLoop,
                                     .stoppedBeforeFutureCompleted, .systemCallFailed("eventfd", 24)]
        let descriptions = Set(all.map(\.description))
        #expect(descriptions.count == all.count)
        #expect(descriptions.allSatisfy { !$0.isEmpty })
    }
}
