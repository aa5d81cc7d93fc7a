@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// A timer scheduled from another thread and cancelled by that thread while the timer travels
/// through its lane, waits in the loop's heap, or runs: the real `callAt`, lane, `accept` (a
/// timer cancelled in transit never enters the heap), the heap's clean-up of cancelled entries,
/// `claimToRun` against `cancelIfPending`, and the loop's count of cancelled timers.
///
/// The timer's deadline is 0 on the loop's clock, long past, so it is due as soon as the loop
/// has it and no clock reading changes the course of a run. Threads: 0 runs the loop; 1 schedules
/// `timers` timers, cancels the ones at even positions, then stops the loop (the stop travels
/// behind the timers in the same lane, so the loop has taken every timer before it stops).
///
/// Checked after each run: a timer ran exactly when its cancel did not answer true (for a timer,
/// true means "this call kept it from running"), timers never cancelled ran once, and the
/// loop's count of cancelled timers in its heap is back to 0 after close.
final class TimerCancelScenario: InterleavingScenario, @unchecked Sendable {
    let loop: EventLoop
    let timers: Int

    private var cancelAnswers: [Bool?]
    private var runs: [Int]
    private var errors: [String] = []

    init(timers: Int) {
        loop = try! EventLoop(spinBeforeSleep: .zero)
        self.timers = timers
        cancelAnswers = Array(repeating: nil, count: timers)
        runs = Array(repeating: 0, count: timers)
    }

    var threadCount: Int { 2 }

    var wakers: [(eventFD: Int32, epollFD: Int32)] { [(loop.waker.eventFD, loop.waker.epollFD)] }

    func run(thread index: Int) {
        if index == 0 {
            do { try loop.runForever() } catch { errors.append("runForever threw \(error)") }
            return
        }
        var handles: [TimerHandle] = []
        for timer in 0..<timers {
            do {
                handles.append(try loop.callAt(0) { [self] in runs[timer] += 1 })
            } catch {
                errors.append("callAt threw \(error)")
                return
            }
        }
        for timer in stride(from: 0, to: timers, by: 2) {
            cancelAnswers[timer] = handles[timer].cancel()
        }
        loop.stop()
        ProducerLanes.abandonCurrentThreadLanes()
    }

    func unblockAfterAbort() {
        loop.stop()
    }

    func violations() -> [String] {
        var found = errors
        for timer in 0..<timers {
            let expected = cancelAnswers[timer] == true ? 0 : 1
            if runs[timer] != expected {
                found.append("timer \(timer) ran \(runs[timer]) time(s); its cancel answered "
                             + (cancelAnswers[timer].map { "\($0)" } ?? "nothing (never cancelled)"))
            }
        }
        do {
            try loop.close()
        } catch {
            found.append("close threw \(error)")
        }
        if loop.cancelledTimers.value != 0 {
            found.append("the loop counts \(loop.cancelledTimers.value) cancelled timer(s) in an empty heap")
        }
        return found
    }
}
