import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// A timeout scope's handle: its deadline on its loop's clock, whether it expired, and a way to
/// move the deadline. asyncio: `asyncio.Timeout`, what `async with asyncio.timeout(d) as cm`
/// binds to `cm`. Made by `withTimeout(_:_:)` and `withTimeout(at:_:)`, which pass it to their
/// body.
///
/// Thread-safe: every method may be called from any thread (the state is under a lock; the timer
/// is one of the loop's, which any thread may set or cancel).
public final class Timeout: @unchecked Sendable, CustomStringConvertible {
    /// asyncio's `_State`.
    enum State {
        case entered
        /// The deadline passed: the body was cancelled and has not ended yet.
        case expiring
        case expired
        case exited
    }

    /// The loop whose clock (`loop.time()`) the deadline is on, and whose timer enforces it.
    public let loop: EventLoop
    private let lock = PThreadMutex()
    private var deadline: Double?
    private var state = State.entered
    private var timer: TimerHandle?
    /// Cancels the body (set once the body runs; nil after the exit).
    private var cancelBody: (@Sendable () -> Void)?
    /// The task that entered the scope, told of the cancel this scope makes (`cancelling()`).
    private let owner: (any CancellableLoopTask)?

    init(loop: EventLoop, when: Double?, owner: (any CancellableLoopTask)?) {
        self.loop = loop
        self.deadline = when
        self.owner = owner
    }

    /// The deadline, in `loop.time()` seconds; nil: none. asyncio: `when()`.
    public var when: Double? { lock.withLock { deadline } }

    /// Whether the deadline passed while the body ran (the scope then cancelled it).
    /// asyncio: `expired()`.
    public var isExpired: Bool {
        lock.withLock { state == .expiring || state == .expired }
    }

    /// Moves the deadline (nil: none). asyncio: `reschedule(when)`. A deadline already past
    /// expires the scope in the loop's next iteration.
    ///
    /// - Throws: `TimeoutScopeError.expired` once the deadline has passed,
    ///   `.exited` after the scope ended (asyncio raises `RuntimeError` for both);
    ///   `EventLoopError.invalidDelay` for NaN; `.closed` if the loop is closed.
    public func reschedule(_ when: Double?) throws {
        if let when, when.isNaN { throw EventLoopError.invalidDelay(when) }
        let old = try lock.withLock { () throws -> TimerHandle? in
            switch state {
            case .entered: break
            case .expiring, .expired: throw TimeoutScopeError.expired
            case .exited: throw TimeoutScopeError.exited
            }
            deadline = when
            defer { timer = nil }
            return timer
        }
        old?.cancel()
        try arm()
    }

    /// asyncio's repr: `<Timeout [active] when=12.345>`, `<Timeout [expiring]>`,
    /// `<Timeout [expired]>`, `<Timeout [finished]>`.
    public var description: String {
        let (when, state) = lock.withLock { (deadline, self.state) }
        switch state {
        case .entered:
            let rounded = when.map { "\(($0 * 1000).rounded() / 1000)" } ?? "None"
            return "<Timeout [active] when=\(rounded)>"
        case .expiring: return "<Timeout [expiring]>"
        case .expired: return "<Timeout [expired]>"
        case .exited: return "<Timeout [finished]>"
        }
    }

    // MARK: The scope's life (withTimeout)

    /// Sets the timer for the current deadline (none for nil). A deadline not in the future
    /// expires the scope at once: the body sees the cancellation at its first
    /// cancellation-aware suspension (asyncio: `call_soon(_on_timeout)`, which runs before the
    /// body's next step).
    private func arm() throws {
        guard let when = lock.withLock({ deadline }), when != .infinity else { return }
        if when <= loop.time() { return expire(ifStill: when) }
        let handle = try loop.callAt(max(when, -Double.greatestFiniteMagnitude)) { [self] in expire(ifStill: when) }
        let stale = lock.withLock { () -> Bool in
            guard state == .entered, deadline == when, timer == nil else { return true }
            timer = handle
            return false
        }
        if stale { handle.cancel() }
    }

    /// The timer for `when` fired: cancel the body, once, unless the deadline moved meanwhile
    /// (a `reschedule` from another thread racing the timer). Loop thread.
    private func expire(ifStill when: Double) {
        let cancel = lock.withLock { () -> (@Sendable () -> Void)? in
            guard state == .entered, deadline == when else { return nil }
            state = .expiring
            timer = nil
            return cancelBody
        }
        guard let cancel else { return }
        owner?.noteCancelRequestByScope()
        cancel()
    }

    /// Runs `body` in a child task that the deadline cancels, and turns that cancellation into
    /// `TimeoutError` at the exit when nobody else cancelled the caller.
    func run<Value: Sendable>(seconds: Double,
                              _ body: @escaping @Sendable (Timeout) async throws -> Value) async throws -> Value {
        let cancellingAtEntry = owner?.cancelling() ?? 0
        // A plain Task, not a loop task, bound to the caller's task: `currentTask()` in the body
        // is still the caller's task, as in asyncio.
        let owner = owner
        let child = Task(executorPreference: loop) {
            try await CurrentLoopTask.binding.withValue(owner) { try await body(self) }
        }
        lock.withLock { cancelBody = { child.cancel() } }
        do {
            try arm()
        } catch {
            child.cancel()
            _ = await child.result
            throw error
        }
        let outcome = await withTaskCancellationHandler {
            await child.result
        } onCancel: {
            child.cancel()
        }
        let (expired, timer) = lock.withLock { () -> (Bool, TimerHandle?) in
            let expired = state == .expiring
            state = expired ? .expired : .exited
            cancelBody = nil
            defer { self.timer = nil }
            return (expired, self.timer)
        }
        timer?.cancel()
        if expired {
            let othersCancelled = (owner.map { $0.uncancel() > cancellingAtEntry } ?? false) || Task.isCancelled
            if case .failure(let error) = outcome, Self.isCancellation(error), !othersCancelled {
                throw TimeoutError(seconds: seconds)
            }
        }
        return try outcome.get()
    }

    static func isCancellation(_ error: any Error) -> Bool {
        error is CancellationError || error is CancelledError
    }
}

/// A timeout scope's misuse. asyncio raises `RuntimeError` for these.
public enum TimeoutScopeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `reschedule` after the deadline passed ("Cannot change state of expiring Timeout").
    case expired
    /// `reschedule` after the scope ended ("Cannot change state of finished Timeout").
    case exited

    public var description: String {
        switch self {
        case .expired: return "the timeout has already expired"
        case .exited: return "the timeout scope has already ended"
        }
    }
}

extension CancellableLoopTask {
    /// A timeout scope cancelled this task's work (its body) on its behalf: count it as asyncio
    /// counts the `task.cancel()` its scope makes, without cancelling the task for Swift.
    func noteCancelRequestByScope() {
        (self as? any ScopeCancelCounting)?.countScopeCancel()
    }
}

/// A task whose cancel requests a timeout scope can count (`cancelling()`).
protocol ScopeCancelCounting {
    func countScopeCancel()
}

extension LoopTask: ScopeCancelCounting {
    func countScopeCancel() {
        loop.state.taskLock.withLock { cancelRequests += 1 }
    }
}

/// Runs `body` with a deadline `delay` seconds from now on the running loop's clock; throws
/// `TimeoutError` if the deadline passes first. asyncio: `async with asyncio.timeout(delay) as cm`.
///
/// The body runs as a child task of the caller, on the loop, and sees the caller's task-local
/// values (`currentTask()` is the caller's task). When the deadline passes, the body is
/// cancelled (Swift's cooperative cancellation: it sees `CancellationError` at its next
/// cancellation-aware suspension); once it has ended, a body that ended cancelled makes the scope
/// throw `TimeoutError`, unless the caller itself was cancelled meanwhile (then the cancellation
/// goes on). A body that swallows the cancellation and returns (or throws another error) ends the
/// scope that way, as in asyncio. While expiring, the calling task's `cancelling()` counts the
/// scope's cancel; it is withdrawn at the exit (`uncancel()`), so the caller is left not
/// cancelled: nothing of the scope's cancellation leaks out of it.
///
/// `delay` nil: no deadline (`reschedule` may set one); zero or negative: the deadline is now,
/// the body runs until the loop's next iteration. Cancelling the caller cancels the body and
/// throws once it has ended.
///
/// - Throws: `TimeoutError`; what the body throws; `CancellationError`;
///   `EventLoopError.noRunningLoop` off a loop, `.invalidDelay` for NaN.
public func withTimeout<Value: Sendable>(_ delay: Double?,
                                         _ body: @escaping @Sendable (Timeout) async throws -> Value) async throws -> Value {
    let loop = try getRunningLoop()
    if let delay, delay.isNaN { throw EventLoopError.invalidDelay(delay) }
    let scope = Timeout(loop: loop, when: delay.map { loop.time() + $0 }, owner: currentTask())
    return try await scope.run(seconds: delay ?? .infinity, body)
}

/// `withTimeout(_:_:)` with the delay as a `Duration` (`.seconds(5)`), for Swift code; the
/// `Double?` form takes asyncio's seconds, and nil (no deadline). Converted to seconds
/// (`Duration.inSeconds`) and passed to that form: `.zero` or less sets the deadline to now, and
/// everything else said there holds (`TimeoutError.seconds` is the delay in seconds). asyncio:
/// `async with asyncio.timeout(delay) as cm`.
///
/// - Throws: `TimeoutError`; what the body throws; `CancellationError`;
///   `EventLoopError.noRunningLoop` off a loop.
public func withTimeout<Value: Sendable>(_ delay: Duration,
                                         _ body: @escaping @Sendable (Timeout) async throws -> Value) async throws -> Value {
    try await withTimeout(delay.inSeconds, body)
}

/// Like `withTimeout(_:_:)` with an absolute deadline on the running loop's clock
/// (`loop.time()`). asyncio: `async with asyncio.timeout_at(when) as cm`.
public func withTimeout<Value: Sendable>(at when: Double?,
                                         _ body: @escaping @Sendable (Timeout) async throws -> Value) async throws -> Value {
    let loop = try getRunningLoop()
    if let when, when.isNaN { throw EventLoopError.invalidDelay(when) }
    let scope = Timeout(loop: loop, when: when, owner: currentTask())
    return try await scope.run(seconds: when.map { $0 - loop.time() } ?? .infinity, body)
}
