import _MultiLoopEventLoop
import _MultiLoopSystem

/// Suspends the calling task for `seconds`. asyncio: `await asyncio.sleep(seconds)`.
///
/// On a loop's task the wake-up is one of the loop's own timers (`callLater`), and the task
/// resumes on the loop. `sleep(0)` (or any delay ≤ 0) yields to the loop exactly once: the task
/// goes to the back of the ready queue and resumes in the next iteration, after the callbacks
/// already scheduled. `.infinity` sleeps until cancelled. Off a loop (a task of Swift's global
/// executor) it falls back to `Task.sleep` / `Task.yield`.
///
/// Cancellation-aware: cancelling the task ends the sleep at once with `CancellationError` (the
/// timer is cancelled). A task already cancelled throws before sleeping, `sleep(0)` included.
/// If the loop is closed before the deadline, the sleep also ends with `CancellationError`.
///
/// - Throws: `CancellationError`; `EventLoopError.invalidDelay` for NaN.
@inlinable
public func sleep(_ seconds: Double) async throws {
    if seconds <= 0 {
        try Task.checkCancellation()
        await yieldToLoop()
        return try Task.checkCancellation()
    }
    try await sleepOnTimer(seconds)
}

/// `sleep(_:)` with the delay as a `Duration` (`.milliseconds(5)`), for Swift code (as
/// `Task.sleep(for:)` takes); the `Double` form takes asyncio's seconds. Converted to seconds
/// (`Duration.inSeconds`) and passed to the `Double` form: `.zero` (or less) yields to the loop
/// exactly once, and everything else said there holds. asyncio: `await asyncio.sleep(seconds)`.
///
/// - Throws: `CancellationError`.
public func sleep(_ duration: Duration) async throws {
    try await sleep(duration.inSeconds)
}

extension EventLoop {
    /// `sleep(_:)` under a name nothing can shadow: an alias (docs/api-guidelines.md,
    /// "Aliases"), the same call with the same contract; as Swift's `Task.sleep`, a static
    /// that suspends the calling task. asyncio: `await asyncio.sleep(seconds)`.
    ///
    /// Why two names: the free `sleep(1)` keeps the asyncio tutorial's look, but next to Glibc
    /// (or Foundation, which exports it) it means two things. In async code it is this one; in
    /// synchronous code it is C's `sleep(UInt32)`, which the compiler picks without a word and
    /// which blocks the thread for whole seconds, so a line moved from one to the other changes
    /// meaning. Inside a type with its own `sleep` member, the member wins. `EventLoop.sleep(1)`
    /// is this function everywhere, and in synchronous code the compiler refuses it.
    ///
    /// - Throws: as `sleep(_:)`.
    @inlinable
    public static func sleep(_ seconds: Double) async throws {
        try await MultiLoop.sleep(seconds)
    }

    /// `sleep(_:)` with a `Duration`, under a name nothing can shadow; see
    /// `EventLoop.sleep(_:)` with seconds. asyncio: `await asyncio.sleep(seconds)`.
    ///
    /// - Throws: `CancellationError`.
    public static func sleep(_ duration: Duration) async throws {
        try await MultiLoop.sleep(duration)
    }
}

/// `sleep(0)`: on a loop's thread the task's continuation goes to the back of the ready queue (a
/// local append, no allocation), and the loop resumes it and runs the task in the same step, one
/// iteration later. `Task.yield()` would allocate a job, enqueue it, and have the job resume the
/// task, which enqueues the task again: two iterations. Off a loop: `Task.yield()`.
///
/// `nonisolated(nonsending)`: it runs in the caller's isolation, so an actor pinned to a loop
/// does not hop off it to get here.
@usableFromInline
func yieldToLoop(isolation: isolated (any Actor)? = #isolation) async {
    guard let loop = EventLoop.runningOnThisThread.value, loop.acceptingLocal else {
        return await Task.yield()
    }
    await withUnsafeContinuation(isolation: isolation) { continuation in
        loop.resumeLater(continuation)
    }
}

/// `sleep` for a positive delay (or NaN, refused).
@usableFromInline
func sleepOnTimer(_ seconds: Double) async throws {
    if seconds.isNaN { throw EventLoopError.invalidDelay(seconds) }
    try Task.checkCancellation()
    guard let loop = EventLoop.runningOnThisThread.value else {
        try await Task.sleep(nanoseconds: UInt64(min(seconds, 1e9) * 1e9))
        return try Task.checkCancellation()
    }
    let sleeper = OneShotResumer<Void, TimerHandle>()
    try await withTaskCancellationHandler {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            guard sleeper.install(continuation) else {
                continuation.resume(throwing: CancellationError())
                return
            }
            do {
                // `.infinity` (or a delay past the end of the clock) still gets a timer, at the
                // largest deadline: it never fires, but the loop's close finds it and ends the
                // sleep, and a cancel withdraws it, as for any sleep.
                let deadline = min(loop.time() + seconds, .greatestFiniteMagnitude)
                let timer = try loop.callAt(deadline, file: #fileID, line: #line, onClose: {
                    // The loop closed first: the timer will never fire; end the sleep.
                    sleeper.takeContinuation()?.resume(throwing: CancellationError())
                }, { sleeper.takeContinuation()?.resume() })
                if !sleeper.keep(timer) { timer.cancel() }
            } catch {
                sleeper.takeContinuation()?.resume(throwing: error)
            }
        }
    } onCancel: {
        let (continuation, timer) = sleeper.cancel()
        timer?.cancel()
        continuation?.resume(throwing: CancellationError())
    }
}
