import _MultiLoopInbox
import _MultiLoopSystem

/// Every way an event-loop operation can be refused.
///
/// asyncio raises `RuntimeError` (and `ValueError`) with a message for these; MultiLoop gives
/// each misuse its own case so callers can match on it. None of them leaves the loop in a
/// broken state: the refused operation simply did not happen.
public enum EventLoopError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The loop is closed (or closing): it accepts no more work and cannot run.
    case closed
    /// `runForever` / `runUntilComplete` was called from inside this loop's own callbacks.
    /// asyncio: "This event loop is already running".
    case reentrantRun
    /// The loop is already running on another thread: one loop never runs on two threads.
    case runningOnAnotherThread
    /// Another loop is already running on the calling thread: two loops never run on one thread
    /// at once. asyncio: "Cannot run the event loop while another loop is running".
    case anotherLoopRunningOnThisThread
    /// `close()` was called while the loop runs. asyncio: "Cannot close a running event loop".
    case closeWhileRunning
    /// A delay or deadline that is NaN or infinite. (A negative delay, or a deadline in the past,
    /// is accepted and runs as soon as possible, as in asyncio.)
    case invalidDelay(Double)
    /// `getRunningLoop()` on a thread where no loop runs. asyncio: "no running event loop".
    case noRunningLoop
    /// `runUntilComplete` returned because `stop()` was called before the future completed.
    /// asyncio: "Event loop stopped before Future completed."
    case stoppedBeforeFutureCompleted
    /// A system call failed while creating or running the loop (name and errno).
    case systemCallFailed(String, Int32)
    /// `runInExecutor` with no pool, or `setDefaultExecutor`, after `shutdownDefaultExecutor()`.
    /// asyncio: "Executor shutdown has been called".
    case defaultExecutorShutDown
    /// `addReader` / `addWriter` with a negative or closed file descriptor.
    /// asyncio: `ValueError("Invalid file descriptor")` or `OSError(EBADF)`.
    case badFileDescriptor(Int32)
    /// `addReader` / `addWriter` with a descriptor epoll cannot watch (a regular file or a
    /// directory, which are always ready). asyncio: `PermissionError` (EPERM) from the selector.
    case unsupportedFileDescriptor(Int32)
    /// A task tried to wait for an fd (a socket operation) whose reader or writer slot is taken:
    /// by a callback (`addReader`), or by another task waiting in the same direction. asyncio
    /// silently replaces the first waiter, which then never wakes.
    case fileDescriptorBusy(Int32)

    public var description: String {
        switch self {
        case .closed: return "the event loop is closed"
        case .reentrantRun: return "the event loop is already running (re-entrant run from its own callback)"
        case .runningOnAnotherThread: return "the event loop is already running on another thread"
        case .anotherLoopRunningOnThisThread: return "another event loop is already running on this thread"
        case .closeWhileRunning: return "cannot close a running event loop"
        case .invalidDelay(let value): return "invalid delay or deadline: \(value) (must be finite)"
        case .noRunningLoop: return "no running event loop on this thread"
        case .stoppedBeforeFutureCompleted: return "the event loop stopped before the future completed"
        case .systemCallFailed(let name, let code): return "\(name) failed with errno \(code)"
        case .defaultExecutorShutDown: return "the loop's default executor was shut down (shutdownDefaultExecutor)"
        case .badFileDescriptor(let fd): return "invalid file descriptor: \(fd)"
        case .unsupportedFileDescriptor(let fd):
            return "file descriptor \(fd) cannot be watched for readiness (epoll refuses regular files and directories)"
        case .fileDescriptorBusy(let fd):
            return "file descriptor \(fd) already has a reader or writer in this direction (a callback or another waiting task)"
        }
    }
}
