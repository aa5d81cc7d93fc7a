import _MultiLoopEventLoop
import _MultiLoopSystem

extension EventLoop {
    /// Runs `body` on the loop and returns a future of its result. Any thread.
    /// SwiftNIO: `EventLoop.submit`; asyncio: `call_soon_threadsafe` with a future to set.
    ///
    /// Travels like `execute` (the calling thread's lane, FIFO with its other submissions). The
    /// future gets `body`'s value or the error it throws. Cancelling the future before `body`
    /// starts means `body` never runs. Accepted work is never dropped: if the loop is closed
    /// before its next iteration, `close()` runs it.
    ///
    /// - Throws: `EventLoopError.closed` if the loop is closed (then `body` never runs).
    public func submit<Value: Sendable>(file: StaticString = #fileID, line: UInt = #line,
                                        _ body: @escaping @Sendable () throws -> Value) throws(EventLoopError) -> Future<Value> {
        let future = Future<Value>(loop: self)
        try execute(file: file, line: line) {
            guard !future.isDone else { return }  // cancelled before it could start
            future.complete(with: Result(catching: body))
        }
        return future
    }
}
