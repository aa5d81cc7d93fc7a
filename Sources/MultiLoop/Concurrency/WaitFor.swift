import _MultiLoopEventLoop
import _MultiLoopSystem

/// The error `waitFor` and `withTimeout` throw when the time is up. asyncio: `TimeoutError`.
public struct TimeoutError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The timeout that expired, in seconds.
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    public var description: String { "timed out after \(seconds) s" }
}

/// Runs `operation` and returns its result, unless `timeout` seconds pass first: then it is
/// cancelled, `waitFor` waits until it has finished (its cleanup runs), and throws
/// `TimeoutError`. asyncio: `await asyncio.wait_for(coro, timeout)` (3.12, which is
/// `async with asyncio.timeout(timeout)`: see `withTimeout(_:_:)` for how the operation runs).
///
/// - `timeout` nil or `.infinity`: no deadline; the operation runs in the calling task.
/// - Zero or negative (`-.infinity` too): the operation never starts, and `TimeoutError` is
///   thrown at once (asyncio creates the task and cancels it before its first step).
/// - If the operation finishes despite the cancellation (it swallowed it), its result or error
///   is returned, as in asyncio.
/// - Cancelling the awaiting task cancels the operation too, and throws `CancellationError`
///   once it has finished.
///
/// Nearly an alias of `withTimeout(timeout) { _ in try await operation() }` (docs/api-guidelines.md,
/// "Aliases"); it differs only for a timeout ≤ 0, which never starts the operation. asyncio has
/// both, `wait_for` and `timeout`.
///
/// - Throws: `TimeoutError`; the operation's error; `CancellationError`;
///   `EventLoopError.noRunningLoop` off a loop (for a deadline); `.invalidDelay` for NaN.
public func waitFor<Value: Sendable>(_ timeout: Double?,
                                     _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
    if let timeout, timeout.isNaN { throw EventLoopError.invalidDelay(timeout) }
    guard let timeout, timeout != .infinity else { return try await operation() }
    if timeout <= 0 { throw TimeoutError(seconds: timeout) }
    return try await withTimeout(timeout) { _ in try await operation() }
}

/// `waitFor(_:_:)` (an operation) with the timeout as a `Duration` (`.seconds(5)`), for Swift
/// code; the `Double?` form takes asyncio's seconds, and nil (no deadline). Converted to seconds
/// (`Duration.inSeconds`) and passed to that form: `.zero` or less never starts the operation
/// and throws `TimeoutError`, and everything else said there holds. asyncio:
/// `await asyncio.wait_for(coro, timeout)`.
///
/// - Throws: `TimeoutError`; the operation's error; `CancellationError`;
///   `EventLoopError.noRunningLoop` off a loop.
public func waitFor<Value: Sendable>(_ timeout: Duration,
                                     _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
    try await waitFor(timeout.inSeconds, operation)
}

/// Waits for `future` (a task, or any future) for at most `timeout` seconds; when the time is
/// up, cancels it, waits until it is done (a task's body has ended) and throws `TimeoutError`.
/// asyncio: `await asyncio.wait_for(fut, timeout)`.
///
/// - A future already done returns its result (or error), whatever the timeout.
/// - `timeout` zero or negative: a pending future is cancelled at once, then as above.
/// - nil or `.infinity`: waits as long as it takes (the future is cancelled only if the awaiting
///   task is).
/// - Unlike a plain `await future.value`, cancelling the awaiting task cancels the future too
///   (asyncio's `wait_for` does).
///
/// - Throws: `TimeoutError`; the future's error (`CancelledError` if someone else cancelled it);
///   `CancellationError`; `EventLoopError.noRunningLoop` off a loop (for a deadline);
///   `.invalidDelay` for NaN.
public func waitFor<Value: Sendable>(_ timeout: Double?, _ future: Future<Value>) async throws -> Value {
    if let timeout, timeout.isNaN { throw EventLoopError.invalidDelay(timeout) }
    if future.isDone { return try future.result() }
    if let timeout, timeout <= 0 {
        future.cancel()
        await future.waitIgnoringCancellation()
        if future.isCancelled { throw TimeoutError(seconds: timeout) }
        return try future.result()
    }
    let wait: @Sendable () async throws -> Value = {
        await withTaskCancellationHandler {
            await future.waitIgnoringCancellation()
        } onCancel: {
            future.cancel()
        }
        return try future.result()
    }
    guard let timeout, timeout != .infinity else { return try await wait() }
    return try await withTimeout(timeout) { _ in try await wait() }
}

/// `waitFor(_:_:)` (a future) with the timeout as a `Duration` (`.seconds(5)`), for Swift code;
/// the `Double?` form takes asyncio's seconds, and nil (no deadline). Converted to seconds
/// (`Duration.inSeconds`) and passed to that form: with `.zero` or less a pending future is
/// cancelled at once, and everything else said there holds. asyncio:
/// `await asyncio.wait_for(fut, timeout)`.
///
/// - Throws: `TimeoutError`; the future's error; `CancellationError`;
///   `EventLoopError.noRunningLoop` off a loop.
public func waitFor<Value: Sendable>(_ timeout: Duration, _ future: Future<Value>) async throws -> Value {
    try await waitFor(timeout.inSeconds, future)
}

extension EventLoop {
    /// Runs `operation` as a task of this loop, from any thread, and returns its future.
    /// asyncio: `asyncio.run_coroutine_threadsafe(coro, loop)`.
    ///
    /// The future is thread-safe: await it from a task of any loop (`try await future.value`),
    /// or block on it from a plain thread (`future.wait(timeout:)`). Cancelling the future
    /// (`future.cancel()`) cancels the task.
    ///
    /// Nearly an alias of `createTask(_:)` (docs/api-guidelines.md, "Aliases"), which is
    /// thread-safe too; this one refuses a closed loop and returns the task as a `Future`.
    /// asyncio has both names.
    ///
    /// - Throws: `EventLoopError.closed` if the loop is closed.
    public func runCoroutineThreadsafe<Value: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Value) throws(EventLoopError) -> Future<Value> {
        guard !isClosed else { throw .closed }
        return createTask(operation)  // the task is its future: cancelling it cancels the body
    }
}
