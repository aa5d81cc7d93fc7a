import _MultiLoopEventLoop
import _MultiLoopSystem

/// A future operation that its state does not allow. asyncio: `asyncio.InvalidStateError`.
public enum InvalidStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The result (or exception) was asked for before the future completed.
    case resultNotReady
    /// `setResult` / `setException` on a future that already completed (or was cancelled).
    case alreadyDone

    public var description: String {
        switch self {
        case .resultNotReady: return "the future's result is not ready yet"
        case .alreadyDone: return "the future is already done"
        }
    }
}

/// The error a cancelled future holds. asyncio: `asyncio.CancelledError` (with its message).
public struct CancelledError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message given to `cancel(message:)`, if any.
    public var message: String?

    public init(message: String? = nil) { self.message = message }

    public var description: String { message.map { "cancelled: \($0)" } ?? "cancelled" }
}

/// Why a blocking `Future.wait(timeout:)` returned without a result.
/// asyncio: `concurrent.futures.TimeoutError`, and (no equivalent) the deadlock refusal.
public enum FutureWaitError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The timeout passed before the future completed. The future is unaffected.
    case timedOut(seconds: Double)
    /// The calling thread is running an event loop: blocking it would stall that loop, and
    /// deadlock if the future needs that loop to complete. Await the future or add a done
    /// callback instead.
    case wouldBlockRunningLoop
    /// The timeout is NaN.
    case invalidTimeout(Double)

    public var description: String {
        switch self {
        case .timedOut(let seconds): return "the future did not complete within \(seconds) s"
        case .wouldBlockRunningLoop: return "blocking wait on a thread that runs an event loop (would deadlock it)"
        case .invalidTimeout(let value): return "invalid timeout: \(value)"
        }
    }
}
