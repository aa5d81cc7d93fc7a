// The one file that uses the experimental scheduling SPI of Swift 6.x (it may change in 6.4).
// Without it, `Task.sleep` in a loop task would wait on the runtime's global timer and then hop
// back to the loop; with it, the wake-up is one of the loop's own timers.
import _MultiLoopInbox
import _MultiLoopSystem
@_spi(ExperimentalScheduling) import _Concurrency

@_spi(ExperimentalScheduling)
extension EventLoop: SchedulingExecutor {
    /// Runs `job` at `instant`: `Task.sleep` (and other timed waits) of the loop's tasks.
    ///
    /// For clocks measured in `Duration` (ContinuousClock, SuspendingClock) the job becomes a
    /// `callLater` on this loop (from any thread: through the caller's lane). Other clocks wait
    /// with the clock itself, then enqueue the job here. A cancelled sleep still delivers its
    /// job at the deadline (the runtime needs it run; it is never dropped). On a closed loop the
    /// job goes to Swift's global executor at once (and the exception handler is told), so the
    /// sleeping task ends its sleep early rather than never.
    public func enqueue<C: Clock>(_ job: consuming ExecutorJob, at instant: C.Instant,
                                  tolerance: C.Duration?, clock: C) {
        let unowned = UnownedJob(job)
        guard let delay = clock.now.duration(to: instant) as? Duration else {
            Task.detached { [self] in
                try? await clock.sleep(until: instant, tolerance: tolerance)
                enqueue(ExecutorJob(unowned))
            }
            return
        }
        do {
            try callLater(delay) { [self] in runJob(unowned) }
        } catch {
            callExceptionHandler(EventLoopErrorContext(
                message: "a timed job was scheduled on a closed event loop; it runs on the global executor instead",
                error: error))
            globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
        }
    }
}
