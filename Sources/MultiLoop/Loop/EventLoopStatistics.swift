/// Counters of one event loop, readable from any thread.
///
/// Each value is read atomically, but the snapshot is not taken at one instant: counters are
/// published by the loop thread at the end of each iteration (and by producers for
/// `eventfdWrites`), so a snapshot taken while the loop runs may mix two iterations.
/// asyncio has no equivalent.
public struct EventLoopStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Completed iterations of the loop (asyncio's `_run_once`).
    public var iterations: UInt64
    /// Callbacks run (including timers and those run by `close()`); cancelled ones are not counted.
    public var callbacksRun: UInt64
    /// Writes to the loop's eventfd. At most one per sleep; none while the loop is awake.
    public var eventfdWrites: UInt64
    /// Times the loop blocked in epoll and woke up again (for any reason: work, timer, signal).
    public var wakeups: UInt64
    /// The largest number of callbacks run in one iteration.
    public var largestBatch: UInt64
    /// Items received through the inbox (thread-safe submissions, cross-thread timers, stop
    /// requests), counted when the loop takes them.
    public var inboxPushes: UInt64

    public init(iterations: UInt64 = 0, callbacksRun: UInt64 = 0, eventfdWrites: UInt64 = 0,
                wakeups: UInt64 = 0, largestBatch: UInt64 = 0, inboxPushes: UInt64 = 0) {
        self.iterations = iterations
        self.callbacksRun = callbacksRun
        self.eventfdWrites = eventfdWrites
        self.wakeups = wakeups
        self.largestBatch = largestBatch
        self.inboxPushes = inboxPushes
    }

    public var description: String {
        "iterations=\(iterations) callbacksRun=\(callbacksRun) eventfdWrites=\(eventfdWrites) "
            + "wakeups=\(wakeups) largestBatch=\(largestBatch) inboxPushes=\(inboxPushes)"
    }
}
