import _MultiLoopSystem

extension EventLoop {
    /// `callLater(_:_:)` with the delay as a `Duration` (`.milliseconds(5)`): the same timer,
    /// for Swift code that measures time in `Duration`s; the `Double` form takes asyncio's
    /// seconds. The delay is converted to seconds (`Duration.inSeconds`) and passed to the
    /// `Double` form, so everything said there holds. asyncio: `loop.call_later(delay, callback)`.
    ///
    /// - Throws: `EventLoopError.closed` on a closed loop (a `Duration` is never NaN or infinite,
    ///   so `.invalidDelay` cannot happen).
    @discardableResult
    public func callLater(_ delay: Duration, file: StaticString = #fileID, line: UInt = #line,
                          _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> TimerHandle {
        try callLater(delay.inSeconds, file: file, line: line, callback)
    }

    /// `callLater(_:_:_:)` (`callback(argument)` after `delay`) with the delay as a `Duration`;
    /// see `callLater(_:_:)` with a `Duration`.
    @discardableResult
    public func callLater<Argument: Sendable>(_ delay: Duration, file: StaticString = #fileID, line: UInt = #line,
                                              _ callback: @escaping @Sendable (Argument) throws -> Void,
                                              _ argument: Argument) throws(EventLoopError) -> TimerHandle {
        try callLater(delay.inSeconds, file: file, line: line, callback, argument)
    }
}
