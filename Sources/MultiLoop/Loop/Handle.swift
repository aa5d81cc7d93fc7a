import CMultiLoopSystem

/// A callback scheduled on an event loop: what `callSoon` and `callSoonThreadsafe` return.
///
/// asyncio equivalent: `asyncio.Handle`. `cancel()` may be called from any thread, any number of
/// times; it is O(1) and lazy (a flag the loop checks just before running the callback). If the
/// callback has already started, cancelling has no effect on it (as in asyncio), but
/// `isCancelled` still becomes true.
///
/// A handle is also its own node in the loop's inbox, so scheduling allocates exactly this one
/// object (plus the closure's context, if it captures anything).
public class Handle: InboxNode, @unchecked Sendable, CustomStringConvertible {
    // Threading: `_state` is only ever accessed through `stateWord` with the C atomics (it MUST
    // stay the first stored property; see `firstStoredWord`). `inboxNext` belongs to the inbox
    // protocol (see `InboxNode`). Every other property is immutable.
    private var _state: ml_word_t = 0
    var inboxNext: UnsafeMutableRawPointer? = nil

    /// What the handle is, which decides how the loop treats it.
    enum Kind: UInt8 {
        /// callSoon / callSoonThreadsafe.
        case callback
        /// callLater / callAt: goes into the timer heap; claimed before running.
        case timer
        /// A future's done callback: claimed before running, so that removal is exact.
        case doneCallback
        /// A blocking waiter's signal: delivered inline by the completing thread, never queued.
        case inlineSignal
    }

    // State bits. A handle that must be claimed moves 0 -> FIRED with a CAS before running;
    // cancel sets CANCELLED with a CAS, so exactly one of them wins for a pending handle.
    static let fired: ml_word_t = 1
    static let cancelledBit: ml_word_t = 2

    let kind: Kind
    /// The deadline on the loop's clock (`EventLoop.time()`), for timers; 0 otherwise.
    let when: Double
    /// For timers: the loop's count of cancelled timers, which `cancel()` maintains.
    let cancelledTimers: CancelledTimerCounter?
    let file: StaticString
    let line: UInt

    init(kind: Kind, when: Double = 0, cancelledTimers: CancelledTimerCounter? = nil, file: StaticString, line: UInt) {
        self.kind = kind
        self.when = when
        self.cancelledTimers = cancelledTimers
        self.file = file
        self.line = line
    }

    @inline(__always)
    var stateWord: UnsafeMutablePointer<ml_word_t> { firstStoredWord(of: self) }

    /// Runs the callback. Loop thread only. Overridden by the concrete handles.
    func invoke() throws {
        preconditionFailure("Handle.invoke must be overridden")
    }

    /// Cancels the callback if it has not started yet. Thread-safe, idempotent, O(1).
    public func cancel() {
        _ = cancelIfPending()
    }

    /// Sets the cancelled bit; returns true when the handle was still pending (neither run nor
    /// cancelled), i.e. this call is what keeps it from running.
    @discardableResult
    func cancelIfPending() -> Bool {
        var old = ml_load_relaxed(stateWord)
        while old & Self.cancelledBit == 0 {
            // Release: nothing to publish really, but it orders the flag after the caller's own
            // writes, which is what a user reading `isCancelled` elsewhere expects.
            let seen = ml_fetch_cas_release(stateWord, old, old | Self.cancelledBit)
            if seen == old {
                let wasPending = old == 0
                if wasPending, kind == .timer { cancelledTimers?.increment() }
                return wasPending
            }
            old = seen
        }
        return false
    }

    /// Whether `cancel()` has been called (even after the callback ran, as in asyncio).
    public var isCancelled: Bool { ml_load_acquire(stateWord) & Self.cancelledBit != 0 }

    /// For handles that must be claimed: moves pending -> fired. False if it was cancelled.
    @inline(__always)
    func claimToRun() -> Bool {
        // Acquire on success pairs with nothing in particular; full ordering is not needed,
        // only the atomicity that makes claim and cancel mutually exclusive.
        ml_fetch_cas_acquire(stateWord, 0, Self.fired) == 0
    }

    /// Whether the loop should skip this handle (callbacks are not claimed: a plain load).
    @inline(__always)
    var isCancelledForRun: Bool { ml_load_relaxed(stateWord) & Self.cancelledBit != 0 }

    public var description: String {
        let what: String
        switch kind {
        case .callback: what = "callback"
        case .timer: what = "timer when=\(when)"
        case .doneCallback: what = "done callback"
        case .inlineSignal: what = "waiter"
        }
        return "<Handle \(what) scheduled at \(file):\(line)\(isCancelled ? " cancelled" : "")>"
    }
}

/// A handle for a closure with no arguments.
final class ClosureHandle: Handle, @unchecked Sendable {
    private let body: @Sendable () throws -> Void

    init(kind: Kind, when: Double = 0, cancelledTimers: CancelledTimerCounter? = nil, file: StaticString, line: UInt,
         body: @escaping @Sendable () throws -> Void) {
        self.body = body
        super.init(kind: kind, when: when, cancelledTimers: cancelledTimers, file: file, line: line)
    }

    override func invoke() throws { try body() }
}

/// A handle for a function and its argument, as asyncio's `call_soon(callback, *args)`.
///
/// With a non-capturing function (a closure literal that uses only its argument, or a global
/// function) the function has no context to allocate: scheduling is a single allocation.
final class ArgumentHandle<Argument: Sendable>: Handle, @unchecked Sendable {
    private let body: @Sendable (Argument) throws -> Void
    private let argument: Argument

    init(kind: Kind, when: Double = 0, cancelledTimers: CancelledTimerCounter? = nil, file: StaticString, line: UInt,
         body: @escaping @Sendable (Argument) throws -> Void, argument: Argument) {
        self.body = body
        self.argument = argument
        super.init(kind: kind, when: when, cancelledTimers: cancelledTimers, file: file, line: line)
    }

    override func invoke() throws { try body(argument) }
}

/// What `callLater` and `callAt` return: a `Handle` whose deadline is readable.
///
/// asyncio equivalent: `asyncio.TimerHandle` (there a subclass; here a view of the same handle).
public struct TimerHandle: Sendable, CustomStringConvertible {
    /// The underlying handle.
    public let handle: Handle

    /// The deadline, on the loop's clock (`EventLoop.time()`). asyncio: `TimerHandle.when()`.
    public var when: Double { handle.when }

    /// Cancels the timer if it has not fired. Thread-safe, idempotent, O(1): the entry stays in
    /// the loop's timer heap, flagged, and is discarded when it reaches the top (or when more than
    /// half of a heap of over 100 entries is cancelled, by a rebuild).
    public func cancel() { handle.cancel() }

    /// Whether `cancel()` has been called.
    public var isCancelled: Bool { handle.isCancelled }

    public var description: String { handle.description }
}
