extension EventLoop {
    /// Runs `body` on the loop after `delay` seconds and returns a future of its result. Any
    /// thread. SwiftNIO: `scheduleTask(in:_:)`; asyncio spells it `call_later` plus a future.
    ///
    /// The future gets `body`'s value, or the error it throws. Cancelling the future before the
    /// deadline cancels the timer, and `body` never runs. If the loop is closed before the
    /// deadline (`close()`, or a loop group's shutdown), the timer is cancelled and the future
    /// fails with `EventLoopError.closed`: nobody is left waiting for a timer that cannot fire.
    ///
    /// - Throws: `EventLoopError.invalidDelay` for NaN or infinity; `.closed` on a closed loop.
    public func schedule<Value: Sendable>(after delay: Double, file: StaticString = #fileID, line: UInt = #line,
                                          _ body: @escaping @Sendable () throws -> Value) throws(EventLoopError) -> Future<Value> {
        guard delay.isFinite else { throw .invalidDelay(delay) }
        let future = Future<Value>(loop: self)
        let timer = try callAt(time() + delay, file: file, line: line, onClose: {
            _ = try? future.setException(EventLoopError.closed)
        }, {
            // Cancelled meanwhile (the done callback below may not have run yet).
            guard !future.isDone else { return }
            switch Result(catching: body) {
            case .success(let value): _ = try? future.setResult(value)
            case .failure(let error): _ = try? future.setException(error)
            }
        })
        // Runs on this loop once the future is done; a cancelled future takes its timer with it.
        _ = try? future.addDoneCallback(on: self) { future in
            if future.isCancelled { timer.cancel() }
        }
        return future
    }
}
