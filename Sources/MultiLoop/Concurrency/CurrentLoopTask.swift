import _MultiLoopEventLoop
import _MultiLoopSystem

/// Which loop task is running.
///
/// `currentTask()` looks for the calling Swift task among the running loop's live tasks (each
/// knows its Swift task once `start` stored it; during an eager start, before that, the loop
/// marks the task it is starting). Nothing is paid per task: a task-local value bound around
/// every body cost an allocation per task (the item overflowed the task allocator's first slab:
/// TaskCreate's malloc count, +1 per task), and a map from Swift tasks to loop tasks an insertion
/// and a removal. The Swift tasks that run code on a task's behalf (the body of a timeout scope,
/// of a task group) bind `binding` instead, which the tasks they start inherit.
@usableFromInline
enum CurrentLoopTask {
    /// The loop task on whose behalf a child Swift task runs (not bound in a task's own body).
    static let binding = TaskLocal<(any CancellableLoopTask)?>(wrappedValue: nil)
}

/// The address of a Swift task (`withUnsafeCurrentTask`), 0 for none.
@usableFromInline
typealias SwiftTaskKey = UInt

/// The address of the calling Swift task, 0 outside one.
@usableFromInline
func currentSwiftTaskKey() -> SwiftTaskKey {
    withUnsafeCurrentTask { task in
        guard let task else { return 0 }
        // An `UnsafeCurrentTask` is the task's reference and nothing else.
        return unsafeBitCast(task, to: UInt.self)
    }
}

/// The task of a loop whose body is calling, or on whose behalf a timeout scope's or task
/// group's body runs; nil elsewhere (a plain Swift task, a callback, a plain thread, an
/// `async let` child). asyncio: `asyncio.current_task()`.
///
/// Unlike asyncio's, it never throws: with no running loop it returns nil; and it takes no loop
/// (asyncio's `current_task(loop)` asks a loop which task it runs; here the answer belongs to
/// the calling task, wherever it runs). A task's body that continues off its loop after the loop
/// closed is no longer found. Cost: a scan of the loop's live tasks (O(n)); it is meant for
/// occasional questions, not for every step.
public func currentTask() -> (any CancellableLoopTask)? {
    if let loop = EventLoop.runningOnThisThread.value {
        let key = currentSwiftTaskKey()
        if key != 0, let task = loop.liveTask(runningIn: key) { return task }
        if let starting = loop.state.eagerlyStarting { return starting }
    }
    return CurrentLoopTask.binding.get()
}

extension CancellationError {
    /// The message of the cancel that the current loop task received (`LoopTask.cancel(message:)`),
    /// when read inside that task: Swift's `CancellationError` carries nothing, so the message
    /// lives in the task. asyncio: `CancelledError.args[0]` as the coroutine sees it.
    public var message: String? {
        currentTask()?.cancelMessage
    }
}

extension Future {
    /// Refuses a task's await of itself (it would never end). asyncio raises
    /// `RuntimeError("Task cannot await on itself")`. On every await of a pending task, so it
    /// compares the calling Swift task with the task's own (a load and a compare), not
    /// `currentTask()` (a lookup under the task lock, then a task-local read when it fails).
    /// Only while the task's Swift task is not stored yet (an eager body's first steps) does it
    /// ask `currentTask()`.
    @usableFromInline
    final func refuseAwaitFromOwnBody() throws(LoopTaskError) {
        let task = unsafeDowncast(self, to: LoopTask<Value>.self)  // `isTask`: the only subclass
        // `swiftTask` is written once, by `start`, before the task is handed to anyone but its
        // own body, whose first steps may run before it (then nil).
        if let own = task.swiftTask {
            guard unsafeBitCast(own, to: UInt.self) == currentSwiftTaskKey() else { return }
        } else if currentTask() !== self {
            return
        }
        throw .awaitsItself(description)
    }
}
