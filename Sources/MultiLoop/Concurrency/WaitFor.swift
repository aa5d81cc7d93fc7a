/// The error `waitFor` and `withTimeout` throw when the time is up. asyncio: `TimeoutError`.
public struct TimeoutError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The timeout that expired, in seconds.
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    public var description: String { "timed out after \(seconds) s" }
}

/// Runs `operation` as a task of the running loop and returns its result, unless `timeout`
/// seconds pass first: then the task is cancelled, `waitFor` waits until it has finished (its
/// cleanup runs), and throws `TimeoutError`. asyncio: `await asyncio.wait_for(coro, timeout)`.
///
/// - `timeout` nil or `.infinity` waits as long as it takes; zero or negative (`-.infinity` too)
///   gives the operation until the loop's next iteration.
/// - If the operation finishes despite the cancellation (it swallowed it), its result or error
///   is returned, as in asyncio.
/// - Cancelling the awaiting task cancels the operation too, and throws `CancellationError`
///   once it has finished.
///
/// - Throws: `TimeoutError`; the operation's error; `CancellationError`;
///   `EventLoopError.noRunningLoop` off a loop; `.invalidDelay` for NaN.
public func waitFor<Value: Sendable>(_ timeout: Double?,
                                     _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
    let loop = try getRunningLoop()
    if let timeout, timeout.isNaN { throw EventLoopError.invalidDelay(timeout) }
    let child = loop.createTask(operation)
    let expired = LockedValue(false)
    var timer: TimerHandle?
    // nil and +infinity: no deadline. Zero, negative and -infinity: the deadline is now (the
    // operation has until the loop's next iteration).
    if let timeout, timeout != .infinity {
        timer = try loop.callLater(max(timeout, 0)) {
            expired.withLock { $0 = true }
            child.cancel()
        }
    }
    await withTaskCancellationHandler {
        await child.waitUntilDone()
    } onCancel: {
        child.cancel()
    }
    timer?.cancel()
    if Task.isCancelled { throw CancellationError() }
    if child.isCancelled && expired.withLock({ $0 }) { throw TimeoutError(seconds: timeout ?? 0) }
    return try child.result()
}

/// A timeout scope: `body` runs with a deadline `seconds` from now. asyncio:
/// `async with asyncio.timeout(seconds): ...`. The same as `waitFor(seconds, body)`.
public func withTimeout<Value: Sendable>(_ seconds: Double?,
                                         _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
    try await waitFor(seconds, body)
}

extension EventLoop {
    /// Runs `operation` as a task of this loop, from any thread, and returns its future.
    /// asyncio: `asyncio.run_coroutine_threadsafe(coro, loop)`.
    ///
    /// The future is thread-safe: await it from a task of any loop (`try await future.value`),
    /// or block on it from a plain thread (`future.wait(timeout:)`). Cancelling the future
    /// (`future.cancel()`) cancels the task.
    ///
    /// - Throws: `EventLoopError.closed` if the loop is closed.
    public func runCoroutineThreadsafe<Value: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Value) throws(EventLoopError) -> Future<Value> {
        guard !isClosed else { throw .closed }
        let task = createTask(operation)
        try cancelTask(task, whenCancelled: task)
        return task.future
    }
}
