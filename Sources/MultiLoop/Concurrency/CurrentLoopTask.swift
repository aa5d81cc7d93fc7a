/// The loop task whose body is running: a task-local value bound by `LoopTask.run` around the
/// body, so it is also seen by the body's structured children (`async let`, task groups), which
/// belong to the task, and by unstructured `Task { }`s it starts (Swift copies task-locals into
/// them), but not by `Task.detached`.
@usableFromInline
enum CurrentLoopTask {
    /// Declared without the `@TaskLocal` wrapper so that inlinable code (`LoopTask.run`) can
    /// bind it.
    @usableFromInline static let binding = TaskLocal<(any CancellableLoopTask)?>(wrappedValue: nil)

    static var task: (any CancellableLoopTask)? { binding.get() }
}

/// The task of a loop whose body (or a structured child of it) is calling, or nil elsewhere (a
/// plain Swift task, a callback, a plain thread). asyncio: `asyncio.current_task()`.
///
/// Unlike asyncio's, it never throws: with no running loop it returns nil; and it takes no loop
/// (asyncio's `current_task(loop)` asks a loop which task it runs; here the answer belongs to
/// the calling task, wherever it runs). A `Task { }` started by a loop task inherits the answer
/// (Swift copies task-local values into it).
public func currentTask() -> (any CancellableLoopTask)? {
    CurrentLoopTask.task
}

extension CancellationError {
    /// The message of the cancel that the current loop task received (`LoopTask.cancel(message:)`),
    /// when read inside that task: Swift's `CancellationError` carries nothing, so the message
    /// lives in the task. asyncio: `CancelledError.args[0]` as the coroutine sees it.
    public var message: String? {
        (currentTask() as? any CancelMessageCarrier)?.cancelMessage
    }
}

/// A task that knows the message of the last cancel it received.
protocol CancelMessageCarrier {
    var cancelMessage: String? { get }
}

extension LoopTask: CancelMessageCarrier {}

extension Future {
    /// Refuses a task's await of itself (it would never end). asyncio raises
    /// `RuntimeError("Task cannot await on itself")`.
    @usableFromInline
    final func refuseAwaitFromOwnBody() throws(LoopTaskError) {
        if CurrentLoopTask.task === self { throw .awaitsItself(description) }
    }
}
