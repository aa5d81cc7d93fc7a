import _MultiLoopEventLoop
import _MultiLoopSystem

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
            future.complete(with: Result(catching: body))
        })
        // A cancelled future takes its timer with it: cancelled inline by the completing thread
        // (a flag; no loop hop, so it also works when the loop is closing).
        let link = TimerCancellingNode<Value>(timer: timer)
        if !future.register(link) && future.isCancelled { timer.cancel() }
        return future
    }

    /// `schedule(after:_:)` with the delay as a `Duration` (`.milliseconds(5)`), for Swift code
    /// (SwiftNIO: `scheduleTask(in: .milliseconds(5))`); the `Double` form takes asyncio's
    /// seconds. Converted to seconds (`Duration.inSeconds`) and passed to the `Double` form:
    /// everything said there holds.
    ///
    /// - Throws: `EventLoopError.closed` on a closed loop (a `Duration` is never NaN or infinite).
    public func schedule<Value: Sendable>(after delay: Duration, file: StaticString = #fileID, line: UInt = #line,
                                          _ body: @escaping @Sendable () throws -> Value) throws(EventLoopError) -> Future<Value> {
        try schedule(after: delay.inSeconds, file: file, line: line, body)
    }
}

/// Cancels a timer when the future it would complete is cancelled. Signalled inline by the
/// completing thread: `TimerHandle.cancel()` is thread-safe and O(1), and no user code runs.
final class TimerCancellingNode<Value: Sendable>: FutureNode, @unchecked Sendable {
    private let timer: TimerHandle

    init(timer: TimerHandle) {
        self.timer = timer
        super.init(kind: .signal, file: #fileID, line: #line)
    }

    override func futureDidComplete(_ future: AnyObject) {
        guard claimToRun(), (future as? Future<Value>)?.isCancelled == true else { return }
        timer.cancel()
    }
}
