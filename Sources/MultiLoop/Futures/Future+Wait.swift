import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

extension Future {
    /// Blocks the calling thread until the future is done, then returns its result or rethrows
    /// its error. For plain threads. asyncio: `concurrent.futures.Future.result(timeout)`.
    ///
    /// - Parameter timeout: seconds; nil or `.infinity` waits as long as it takes; zero or
    ///   negative only checks.
    /// - Throws: `FutureWaitError.wouldBlockRunningLoop` when the calling thread is running an
    ///   event loop (blocking would stall it, and deadlock if the future needs it), unless the
    ///   future is already done; `FutureWaitError.timedOut` when the timeout passes (the future
    ///   is unaffected); `.invalidTimeout` for NaN; `CancelledError` or the future's own error.
    public func wait(timeout: Double? = nil) throws -> Value {
        if isDone { return try result() }
        if let timeout, timeout.isNaN { throw FutureWaitError.invalidTimeout(timeout) }
        if EventLoop.runningOnThisThread.value != nil { throw FutureWaitError.wouldBlockRunningLoop }

        var deadline: Int64? = nil
        if let timeout {
            // Zero, negative and minus infinity only check; plus infinity waits as long as it takes.
            if timeout <= 0 { throw FutureWaitError.timedOut(seconds: timeout) }
            if timeout.isFinite {
                let nanoseconds = min(timeout, 1e9) * 1e9
                deadline = ml_monotonic_ns() + Int64(nanoseconds.rounded(.up))
            }
        }
        let waiter = BlockingWaiterNode()
        guard register(waiter) else { return try result() }
        if waiter.wait(deadlineNanoseconds: deadline) { return try result() }
        // Timed out. Withdraw, unless the completer claimed the waiter first: then its signal is
        // on the way and the result is already published.
        if waiter.cancelIfPending() { throw FutureWaitError.timedOut(seconds: timeout ?? 0) }
        _ = waiter.wait(deadlineNanoseconds: nil)
        return try result()
    }

    /// `wait(timeout:)` with the timeout as a `Duration` (`.seconds(5)`), for Swift code; the
    /// `Double?` form takes asyncio's seconds, and nil (no timeout). Converted to seconds
    /// (`Duration.inSeconds`) and passed to that form: `.zero` or a negative duration only
    /// checks, and everything else said there holds (`FutureWaitError.timedOut` carries the
    /// seconds). asyncio: `concurrent.futures.Future.result(timeout)`.
    public func wait(timeout: Duration) throws -> Value {
        try wait(timeout: timeout.inSeconds)
    }
}

/// A thread blocked in `Future.wait`: signalled inline by the completing thread (no user code
/// runs there, only a condition variable is signalled).
final class BlockingWaiterNode: FutureNode, @unchecked Sendable {
    private let mutex = PThreadMutex()
    private var signalled = false  // guarded by `mutex`

    init() {
        super.init(kind: .signal, file: #fileID, line: #line)
    }

    override func futureDidComplete(_ future: AnyObject) {
        // The claim makes signal and timeout withdrawal mutually exclusive.
        guard claimToRun() else { return }
        mutex.withLock {
            signalled = true
            mutex.broadcast()
        }
    }

    /// Waits for the signal; false when the deadline passed first.
    func wait(deadlineNanoseconds: Int64?) -> Bool {
        mutex.withLock {
            while !signalled {
                if !mutex.wait(deadlineNanoseconds: deadlineNanoseconds) { return signalled }
            }
            return true
        }
    }
}
