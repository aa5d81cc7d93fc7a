import _MultiLoopEventLoop
import _MultiLoopSystem

/// A misuse of a loop task. asyncio raises `RuntimeError` for these.
public enum LoopTaskError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A task awaited its own result (its body can never end while it waits for its end).
    /// asyncio: `RuntimeError("Task cannot await on itself")`. Carries the task's description.
    case awaitsItself(String)

    public var description: String {
        switch self {
        case .awaitsItself(let task): return "a task cannot await itself: \(task)"
        }
    }
}
