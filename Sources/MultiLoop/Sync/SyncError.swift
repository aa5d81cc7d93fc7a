import _MultiLoopEventLoop
import _MultiLoopSystem

/// A misuse of a synchronization primitive (`Lock`, `Semaphore`, `BoundedSemaphore`,
/// `AsyncQueue`), reported as a typed error: none of them ever traps.
///
/// asyncio raises `RuntimeError`, `ValueError`, `asyncio.QueueFull` and `asyncio.QueueEmpty` for
/// these; each case names its asyncio counterpart.
public enum SyncError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `Lock.release()` on a lock that is not locked. asyncio: `RuntimeError('Lock is not acquired.')`.
    case releaseUnlocked
    /// `BoundedSemaphore.release()` that would raise the value above the initial value.
    /// asyncio: `ValueError('BoundedSemaphore released too many times')`.
    case releasedTooManyTimes
    /// A semaphore created with a negative value (the value given).
    /// asyncio: `ValueError('Semaphore initial value must be >= 0')`.
    case invalidValue(Int)
    /// `AsyncQueue.putNowait` on a full queue. asyncio: `asyncio.QueueFull`.
    case queueFull
    /// `AsyncQueue.getNowait` with no item to take. asyncio: `asyncio.QueueEmpty`.
    case queueEmpty
    /// `AsyncQueue.taskDone()` called more times than items were put.
    /// asyncio: `ValueError('task_done() called too many times')`.
    case taskDoneTooManyTimes
    /// `Semaphore.release()` with `Int.max` permits already free: the count cannot grow.
    /// asyncio has no such limit (Python's integers are unbounded).
    case tooManyPermits

    public var description: String {
        switch self {
        case .releaseUnlocked: return "the lock is not acquired"
        case .releasedTooManyTimes: return "the bounded semaphore was released too many times"
        case .invalidValue(let value): return "a semaphore's initial value must be >= 0, not \(value)"
        case .queueFull: return "the queue is full"
        case .queueEmpty: return "the queue is empty"
        case .taskDoneTooManyTimes: return "taskDone() called too many times"
        case .tooManyPermits: return "the semaphore already has Int.max free permits"
        }
    }
}
