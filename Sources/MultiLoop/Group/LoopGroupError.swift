import _MultiLoopEventLoop
import _MultiLoopSystem

/// Every way a loop-group operation can be refused. None of them leaves the group half-changed.
public enum LoopGroupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The group is shutting down or shut down: it accepts no more work.
    case shutDown
    /// `syncShutdownGracefully()` on a thread that runs an event loop (on one of the group's own it
    /// would wait for itself; on another it would stall that loop), or `await shutdownGracefully()`
    /// from a task of one of the group's loops. Shut the group down from a plain thread, or with
    /// `await shutdownGracefully()` from a task of another loop. (SwiftNIO crashes with a precondition.)
    case shutdownFromLoopThread
    /// The shared default group lives as long as the process (SwiftNIO's singleton groups refuse
    /// the same way).
    case sharedGroupCannotShutDown
    /// A group needs at least one loop.
    case invalidLoopCount(Int)
    /// `loop(at:)` with an index outside `0..<count`.
    case indexOutOfRange(Int, count: Int)
    /// The process's CPU affinity mask could not be read (errno).
    case affinityUnavailable(Int32)
    /// Pinning loop `loop` to CPU `cpu` failed (errno); the group was not created.
    case pinningFailed(loop: Int, cpu: Int, errno: Int32)
    /// A loop could not be created (its eventfd or epoll instance).
    case loopCreationFailed(EventLoopError)

    public var description: String {
        switch self {
        case .shutDown: return "the loop group is shut down"
        case .shutdownFromLoopThread:
            return "the loop group cannot be shut down from this thread: it runs an event loop (use await shutdownGracefully() from another loop)"
        case .sharedGroupCannotShutDown: return "the shared loop group cannot be shut down"
        case .invalidLoopCount(let count): return "a loop group needs at least one loop (asked for \(count))"
        case .indexOutOfRange(let index, let count): return "loop index \(index) out of range 0..<\(count)"
        case .affinityUnavailable(let code): return "sched_getaffinity failed with errno \(code)"
        case .pinningFailed(let loop, let cpu, let code): return "pinning loop \(loop) to CPU \(cpu) failed with errno \(code)"
        case .loopCreationFailed(let error): return "creating a loop failed: \(error)"
        }
    }
}
