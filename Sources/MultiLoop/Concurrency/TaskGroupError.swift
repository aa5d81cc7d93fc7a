import _MultiLoopEventLoop
import _MultiLoopSystem

/// What `withLoopTaskGroup` throws when a child or its body failed: every error that is not a
/// cancellation, in the order the group saw them (a child's when the child finished, the body's
/// when the body ended). asyncio: the `ExceptionGroup("unhandled errors in a TaskGroup", ...)`
/// that `async with asyncio.TaskGroup()` raises.
///
/// A cancellation (`CancellationError`, `CancelledError`) is never one of the errors: a child
/// cancelled by the group, by itself or by anyone else is simply cancelled. A nested group's
/// failure appears as one element, itself a `TaskGroupError` (asyncio nests its groups the same
/// way).
public struct TaskGroupError: Error, Sendable, CustomStringConvertible {
    /// The errors, never empty, oldest first.
    public let errors: [any Error]

    init(errors: [any Error]) {
        self.errors = errors
    }

    public var description: String {
        let count = errors.count == 1 ? "1 error" : "\(errors.count) errors"
        return "unhandled errors in a task group (\(count)): " + errors.map { "\($0)" }.joined(separator: "; ")
    }
}

/// Why `LoopTaskGroup.createTask` refused to start a task; the operation never runs.
/// asyncio: the `RuntimeError`s of `TaskGroup.create_task` ("TaskGroup ... is finished",
/// "... is shutting down"; asyncio also closes the coroutine).
public enum TaskGroupStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The group is finished: its body has ended and so has every child. It takes no more
    /// tasks (the group was kept past `withLoopTaskGroup`, or a thread outside it held on).
    case finished
    /// The group is aborting: a child or the body failed, or the task that runs the group was
    /// cancelled. It is cancelling its children and waits for them; it starts no new ones.
    case shuttingDown

    public var description: String {
        switch self {
        case .finished: return "the task group is finished"
        case .shuttingDown: return "the task group is shutting down"
        }
    }
}
