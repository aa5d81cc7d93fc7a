import _MultiLoopInbox
import _MultiLoopSystem

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
    /// Writes to the loop's eventfd. At most one per sleep (so never more than `wakeups`, plus
    /// one for a sleep in progress); none while the loop is awake.
    public var eventfdWrites: UInt64
    /// Sleeps the loop announced and left again: it blocked in epoll and woke up (for any
    /// reason: work, a timer, a signal), or it found work in a producer's lane right after the
    /// announcement and did not block.
    public var wakeups: UInt64
    /// The largest number of callbacks run in one iteration: the high-water mark of the ready
    /// queue's depth (what one iteration found ready, lane items included; timers not yet due
    /// wait in the heap and are not counted).
    public var largestBatch: UInt64
    /// Items received from other threads through their lanes (thread-safe submissions,
    /// cross-thread timers, done callbacks, stop requests), counted when the loop takes them.
    public var inboxPushes: UInt64
    /// Tasks created on the loop (`createTask`, `runCoroutineThreadsafe`, a group's `submit`).
    public var tasksCreated: UInt64
    /// Those of them that are done. `tasksCreated - tasksFinished` is the number still live
    /// (read one after the other, so a snapshot taken while tasks finish may be off by those).
    public var tasksFinished: UInt64

    public init(iterations: UInt64 = 0, callbacksRun: UInt64 = 0, eventfdWrites: UInt64 = 0,
                wakeups: UInt64 = 0, largestBatch: UInt64 = 0, inboxPushes: UInt64 = 0,
                tasksCreated: UInt64 = 0, tasksFinished: UInt64 = 0) {
        self.iterations = iterations
        self.callbacksRun = callbacksRun
        self.eventfdWrites = eventfdWrites
        self.wakeups = wakeups
        self.largestBatch = largestBatch
        self.inboxPushes = inboxPushes
        self.tasksCreated = tasksCreated
        self.tasksFinished = tasksFinished
    }

    /// Adds another snapshot's counters to these (several loops, or several groups, in one
    /// total); `largestBatch` becomes the larger of the two.
    public mutating func accumulate(_ other: EventLoopStatistics) {
        iterations += other.iterations
        callbacksRun += other.callbacksRun
        eventfdWrites += other.eventfdWrites
        wakeups += other.wakeups
        largestBatch = max(largestBatch, other.largestBatch)
        inboxPushes += other.inboxPushes
        tasksCreated += other.tasksCreated
        tasksFinished += other.tasksFinished
    }

    public var description: String {
        "iterations=\(iterations) callbacksRun=\(callbacksRun) eventfdWrites=\(eventfdWrites) "
            + "wakeups=\(wakeups) largestBatch=\(largestBatch) inboxPushes=\(inboxPushes) "
            + "tasksCreated=\(tasksCreated) tasksFinished=\(tasksFinished)"
    }
}
