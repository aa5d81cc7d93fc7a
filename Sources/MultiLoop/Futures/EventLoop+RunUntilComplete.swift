import _MultiLoopEventLoop
import _MultiLoopSystem

extension EventLoop {
    /// Runs the loop until `future` is done, then returns its result or rethrows its error.
    /// asyncio: `loop.run_until_complete(future)`.
    ///
    /// The future may belong to any loop and be completed from any thread: its done callback is
    /// registered on this loop, and stops it. If the future is already done, the loop runs one
    /// iteration.
    ///
    /// - Throws: the `EventLoopError`s of `runForever` (the loop is then unchanged);
    ///   `EventLoopError.stoppedBeforeFutureCompleted` if `stop()` ended the run first; otherwise
    ///   whatever `future.result()` throws.
    @discardableResult
    public func runUntilComplete<Value>(_ future: Future<Value>) throws -> Value {
        let token = try future.addDoneCallback(on: self) { _ in
            // Runs on this loop's thread, so this is the flag-setting stop.
            try getRunningLoop().stop()
        }
        defer { future.removeDoneCallback(token) }
        try runForever()
        guard future.isDone else { throw EventLoopError.stoppedBeforeFutureCompleted }
        return try future.result()
    }
}
