import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("Closing a loop", .timeLimit(.minutes(5)))
struct CloseTests {
    @Test("close() runs every callback accepted before it, cancels pending timers, and reports both")
    func closeLosesNothingAccepted() throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        // Accepted while the loop is not running: from this thread and from others.
        for _ in 0..<10 { try loop.callSoon { ran.value += 1 } }
        JoinableThread.runAll(2) { _ in
            for _ in 0..<100 { try! loop.callSoonThreadsafe { ran.value += 1 } }
        }
        let timer = try loop.callLater(60) { ran.value += 1000 }
        let report = try loop.close()
        #expect(ran.value == 210)
        #expect(report == EventLoopCloseReport(callbacksRun: 210, timersCancelled: 1))
        #expect(timer.isCancelled)
        #expect(loop.isClosed)
    }

    /// No wait at all: `close()` tells each pending timer's waiter before it returns, on the
    /// closing thread (a task in `sleep` resumes later, on another executor; a future is
    /// completed at once).
    @Test("close() fails the future of a pending schedule(after:) with .closed before it returns")
    func closeFailsPendingScheduledFutures() throws {
        let loop = try EventLoop()
        let pending = try loop.schedule(after: 3_600) { 1 }
        let report = try loop.close()
        #expect(report.timersCancelled == 1)
        #expect(pending.isDone, "close() returned and the future still waits for a timer that will never fire")
        #expect(throws: EventLoopError.closed) { try pending.result() }
    }

    @Test("close() is idempotent")
    func closeIsIdempotent() throws {
        let loop = try EventLoop()
        try loop.callSoon {}
        #expect(try loop.close().callbacksRun == 1)
        #expect(try loop.close() == EventLoopCloseReport())
        #expect(loop.isClosed)
    }

    @Test("close() refuses while the loop runs, also from its own callback")
    func closeRefusedWhileRunning() throws {
        let loop = try EventLoop()
        let fromCallback = LoopConfined<EventLoopError?>(nil)
        try loop.callSoon {
            do throws(EventLoopError) { try loop.close() } catch { fromCallback.value = error }
        }
        let thread = JoinableThread { try! loop.runForever() }
        // The loop may not have started yet: a round trip through it proves it runs.
        _ = try onLoopOrNil(loop)
        let fromOutside = Result { () throws(EventLoopError) in try loop.close() }
        _ = try onLoopOrNil(loop)
        loop.stop()
        thread.join()
        #expect(fromCallback.value == .closeWhileRunning)
        if case .failure(let error) = fromOutside {
            #expect(error == .closeWhileRunning)
        } else {
            // The only other outcome is a close that happened after the loop stopped, which
            // cannot be: the loop is stopped only below.
            Issue.record("close() succeeded while the loop was running")
        }
        #expect(!loop.isClosed)
        try loop.close()
    }

    @Test("after close every scheduling call and every run throws .closed")
    func closedLoopRefusesEverything() throws {
        let loop = try EventLoop()
        try loop.close()
        #expect(throws: EventLoopError.closed) { try loop.callSoon {} }
        #expect(throws: EventLoopError.closed) { try loop.callSoonThreadsafe {} }
        #expect(throws: EventLoopError.closed) { try loop.callSoon({ (_: Int) in }, 1) }
        #expect(throws: EventLoopError.closed) { try loop.callLater(1) {} }
        #expect(throws: EventLoopError.closed) { try loop.callAt(loop.time()) {} }
        #expect(throws: EventLoopError.closed) { try loop.runForever() }
        JoinableThread.runAll(2) { _ in
            #expect(throws: EventLoopError.closed) { try loop.callSoonThreadsafe {} }
        }
        loop.stop()  // a no-op on a closed loop
        #expect(!loop.isRunning)
    }

    /// One thread, so the lane is certainly the same before and after: a lane registered before
    /// close must refuse what is pushed after (not accept it into a loop that will never run it).
    @Test("a thread whose lane was registered before close gets .closed after it, from that lane")
    func laneRegisteredBeforeCloseRefuses() async {
        let outcome = await offThePool { () -> String? in
            do {
                let loop = try EventLoop()
                let ran = Locked(0)
                try loop.execute { ran.withLock { $0 += 1 } }  // registers this thread's lane
                let report = try loop.close()
                guard report.callbacksRun == 1, ran.value == 1 else { return "close ran \(report.callbacksRun)" }
                do {
                    try loop.execute { ran.withLock { $0 += 1 } }
                    return "a push through the lane registered before close was accepted after it"
                } catch EventLoopError.closed {
                    return nil
                } catch {
                    return "unexpected \(error)"
                }
            } catch {
                return "setting up threw \(error)"
            }
        }
        #expect(outcome == nil, "\(outcome ?? "")")
    }

    @Test("a callback run by close() cannot schedule more work: it gets .closed")
    func finalBatchCannotSchedule() throws {
        let loop = try EventLoop()
        let errors = ErrorLog()
        errors.install(on: loop)
        let outcomes = LoopConfined<[EventLoopError]>([])
        try loop.callSoon {
            do throws(EventLoopError) { try loop.callSoon {} } catch { outcomes.value.append(error) }
            do throws(EventLoopError) { try loop.callLater(0) {} } catch { outcomes.value.append(error) }
            do { try loop.close() } catch { Issue.record("nested close threw \(error)") }
        }
        try loop.close()
        #expect(outcomes.value == [.closed, .closed])
        #expect(errors.count == 0)
    }

    /// The two ways to hand a loop a callback from another thread.
    enum Submission: CaseIterable, Sendable {
        case callSoonThreadsafe, execute

        func submit(to loop: EventLoop, _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) {
            switch self {
            case .callSoonThreadsafe: try loop.callSoonThreadsafe(callback)
            case .execute: try loop.execute(callback)
            }
        }
    }

    @Test("pushes racing with close are either run by close or refused, never lost",
          arguments: Submission.allCases, 0..<20)
    func pushesRacingCloseAreNeverLost(submission: Submission, round: Int) throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        let accepted = Locked(0)
        let producers = (0..<3).map { _ in
            JoinableThread {
                for _ in 0..<2_000 {
                    do throws(EventLoopError) {
                        try submission.submit(to: loop) { ran.value += 1 }
                        accepted.withLock { $0 += 1 }
                    } catch {
                        #expect(error == .closed)
                    }
                }
            }
        }
        let report = try loop.close()
        producers.forEach { $0.join() }
        #expect(ran.value == accepted.value)
        #expect(report.callbacksRun == accepted.value)
    }
}
