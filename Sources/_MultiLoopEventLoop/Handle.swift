import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

/// A callback scheduled on an event loop: what `callSoon` and `callSoonThreadsafe` return.
///
/// asyncio equivalent: `asyncio.Handle`. `cancel()` may be called from any thread, any number of
/// times; it is O(1) and lazy (a flag the loop checks just before running the callback). If the
/// callback has already started, cancelling has no effect on it (as in asyncio), but
/// `isCancelled` still becomes true.
///
/// A handle is also its own node in the loop's inbox, so scheduling allocates at most this one
/// object (plus the closure's context, if it captures anything). Closure handles are recycled:
/// once one has run and nobody holds it any more, the loop hands it back to the thread that
/// scheduled it (see `HandleRecycler`), so a steady stream of `callSoonThreadsafe` allocates
/// nothing. Keep a strong reference for as long as you want to use a handle; a weak reference
/// to a handle may later find it reused for another callback.
///
/// Open only so that MultiLoop's own futures can add their kinds of handle (done callbacks,
/// waiters) from the module above the loop; it has no public initializer, so code outside
/// MultiLoop cannot make one.
open class Handle: InboxNode, @unchecked Sendable, CustomStringConvertible {
    // Threading: `_state` is only ever accessed through `stateWord` with the C atomics (it MUST
    // stay the first stored property; see `firstStoredWord`). `inboxNext` belongs to the inbox
    // protocol (see `InboxNode`); for a closure handle sent through a lane it names that lane
    // while the handle is in flight (written by the producer before the push publishes it,
    // read by the loop when it recycles the handle), and links the spare chains after. The other
    // properties are written only before the handle is published (by its creator, or by the
    // producer that reuses it) and read by the loop after the inbox's acquire.
    private var _state: ml_word_t = 0
    @usableFromInline @exclusivity(unchecked) package var inboxNext: UnsafeMutableRawPointer? = nil

    /// What the handle is, which decides how the loop treats it.
    @usableFromInline
    package enum Kind: UInt8 {
        /// callSoon / callSoonThreadsafe with a closure: recyclable.
        case closureCallback
        /// Any other plain callback (argument form, stop requests).
        case callback
        /// callLater / callAt: goes into the timer heap; claimed before running.
        case timer
        /// A callback claimed before running, so that its removal (`cancel`) is exact: a
        /// future's done callback.
        case claimedCallback
        /// A signal delivered inline by whoever fires it, never queued (a future's waiters).
        case signal
    }

    // State bits. A handle that must be claimed moves 0 -> FIRED with a CAS before running;
    // cancel sets CANCELLED with a CAS, so exactly one of them wins for a pending handle.
    static let fired: ml_word_t = 1
    static let cancelledBit: ml_word_t = 2

    // The location (one word) and the kind follow `inboxNext`: with a closure, the whole handle
    // fits one 64-byte cache line, to hand from producer to loop.
    @exclusivity(unchecked) private(set) var callbackLocation: CallbackLocation
    package let kind: Kind

    // `@usableFromInline`: without it Swift 6.3 warns "function call causes an infinite
    // recursion" on the initializer stubs it makes for the subclasses below (an open class
    // whose designated initializer they do not inherit).
    @usableFromInline
    package init(kind: Kind, file: StaticString, line: UInt) {
        self.callbackLocation = CallbackLocation(file: file, line: line)
        self.kind = kind
    }

    /// Resets the source location of a recycled handle.
    final func relocate(file: StaticString, line: UInt) {
        callbackLocation = CallbackLocation(file: file, line: line)
    }

    @inline(__always)
    package var stateWord: UnsafeMutablePointer<ml_word_t> { firstStoredWord(of: self) }

    /// Runs the callback. Loop thread only. Overridden by the concrete handles (open for the
    /// futures' done callbacks, a layer up; not for users: hence the SPI).
    @_spi(MultiLoopInternals) open func invoke() throws {
        preconditionFailure("Handle.invoke must be overridden")
    }

    /// The deadline of a timer on the loop's clock; overridden by timer handles.
    var deadline: Double { 0 }

    /// Called when `cancel()` stops a pending handle; timers keep their loop's count with it.
    func didCancelWhilePending() {}

    /// Called by `close()` for a timer it cancelled (not yet due), on the closing thread, after
    /// the cancellation: whoever waits for the timer learns that it will never fire.
    func loopClosedBeforeDeadline() {}

    /// Cancels the callback if it has not started yet. Thread-safe, idempotent, O(1).
    ///
    /// - Returns: for a timer or a done callback (the loop claims those before running them):
    ///   true exactly when this call keeps the callback from running, false when it had already
    ///   fired or started, or was already cancelled. For a plain callback (`callSoon`), true
    ///   only says it was not cancelled before: it is skipped if the loop has not reached it
    ///   yet. asyncio's `cancel()` returns nothing; the answer lets a caller that races the
    ///   loop know which side won.
    @discardableResult
    public func cancel() -> Bool {
        cancelIfPending()
    }

    /// Sets the cancelled bit; returns true when the handle was still pending (neither run nor
    /// cancelled), i.e. this call is what keeps it from running.
    @discardableResult
    package func cancelIfPending() -> Bool {
        var old = ml_load_relaxed(stateWord)
        while old & Self.cancelledBit == 0 {
            // Release: orders the flag after the canceller's own writes, which is what a user
            // reading `isCancelled` elsewhere expects; atomicity makes cancel and claim exclusive.
            let seen = ml_fetch_cas_release(stateWord, old, old | Self.cancelledBit)
            if seen == old {
                if old == 0 { didCancelWhilePending() }
                return old == 0
            }
            old = seen
        }
        return false
    }

    /// Whether `cancel()` has been called (even after the callback ran, as in asyncio).
    public var isCancelled: Bool { ml_load_acquire(stateWord) & Self.cancelledBit != 0 }

    /// For handles that must be claimed: moves pending -> fired. False if it was cancelled.
    @inline(__always)
    package func claimToRun() -> Bool {
        ml_fetch_cas_acquire(stateWord, 0, Self.fired) == 0
    }

    /// Whether the loop should skip this handle (callbacks are not claimed: a plain load).
    @inline(__always)
    package var isCancelledForRun: Bool { ml_load_relaxed(stateWord) & Self.cancelledBit != 0 }

    /// Clears the state of a handle about to be reused. Only its owner (the loop thread, which
    /// then publishes it through the recycler's release, or keeps it) may call this.
    final func resetState() { ml_store_relaxed(stateWord, 0) }

    /// Where the callback was scheduled (`#fileID:#line`).
    public var location: String { callbackLocation.description }

    public var description: String {
        "<Handle \(kindDescription) scheduled at \(location)\(isCancelled ? " cancelled" : "")>"
    }

    /// What `description` calls the handle; the layers above name their own kinds (a future's
    /// done callback, a waiter).
    @_spi(MultiLoopInternals) open var kindDescription: String {
        switch kind {
        case .closureCallback, .callback, .claimedCallback: "callback"
        case .timer: "timer when=\(deadline)"
        case .signal: "signal"
        }
    }
}

/// A handle for a closure with no arguments. Recycled by the loop once spent (kind
/// `.closureCallback`); timers subclass it.
class ClosureHandle: Handle, @unchecked Sendable {
    /// nil only while the handle is spare (in a recycler or a thread's cache).
    @exclusivity(unchecked) var body: (@Sendable () throws -> Void)?

    init(kind: Kind, file: StaticString, line: UInt, body: @escaping @Sendable () throws -> Void) {
        self.body = body
        super.init(kind: kind, file: file, line: line)
    }

    /// A `.closureCallback` handle for `body`: `spare` (a recycled one) if there is one, else a
    /// new one.
    @inline(__always)
    static func reusing(_ spare: ClosureHandle?, file: StaticString, line: UInt,
                        body: @escaping @Sendable () throws -> Void) -> ClosureHandle {
        guard let spare else { return ClosureHandle(kind: .closureCallback, file: file, line: line, body: body) }
        spare.body = body
        spare.relocate(file: file, line: line)
        return spare
    }

    /// Moves the closure out before calling it: no retain and release of its context around
    /// the call (a context shared by many submissions would bounce between the producer's core
    /// and the loop's for each), and the captures are released as soon as the callback returns.
    override func invoke() throws {
        guard let body = body.take() else { return }
        try body()
    }
}

/// A handle for a function and its argument, as asyncio's `call_soon(callback, *args)`.
///
/// With a non-capturing function (a closure literal that uses only its argument, or a global
/// function) the function has no context to allocate: scheduling is a single allocation.
class ArgumentHandle<Argument: Sendable>: Handle, @unchecked Sendable {
    private let body: @Sendable (Argument) throws -> Void
    private let argument: Argument

    init(kind: Kind, file: StaticString, line: UInt,
         body: @escaping @Sendable (Argument) throws -> Void, argument: Argument) {
        self.body = body
        self.argument = argument
        super.init(kind: kind, file: file, line: line)
    }

    override func invoke() throws { try body(argument) }
}

/// A timer with a closure.
final class TimerClosureHandle: ClosureHandle, @unchecked Sendable {
    let when: Double
    let cancelledTimers: CancelledTimerCounter
    /// What to do if the loop closes before the deadline (set before the timer is scheduled).
    private let onClose: (@Sendable () -> Void)?

    init(when: Double, cancelledTimers: CancelledTimerCounter, file: StaticString, line: UInt,
         onClose: (@Sendable () -> Void)? = nil, body: @escaping @Sendable () throws -> Void) {
        self.when = when
        self.cancelledTimers = cancelledTimers
        self.onClose = onClose
        super.init(kind: .timer, file: file, line: line, body: body)
    }

    override var deadline: Double { when }
    override func didCancelWhilePending() { cancelledTimers.increment() }
    override func loopClosedBeforeDeadline() { onClose?() }
}

/// A timer with a function and its argument.
final class TimerArgumentHandle<Argument: Sendable>: ArgumentHandle<Argument>, @unchecked Sendable {
    let when: Double
    let cancelledTimers: CancelledTimerCounter

    init(when: Double, cancelledTimers: CancelledTimerCounter, file: StaticString, line: UInt,
         body: @escaping @Sendable (Argument) throws -> Void, argument: Argument) {
        self.when = when
        self.cancelledTimers = cancelledTimers
        super.init(kind: .timer, file: file, line: line, body: body, argument: argument)
    }

    override var deadline: Double { when }
    override func didCancelWhilePending() { cancelledTimers.increment() }
}

/// What `callLater` and `callAt` return: a `Handle` whose deadline is readable.
///
/// asyncio equivalent: `asyncio.TimerHandle` (there a subclass; here a view of the same handle).
public struct TimerHandle: Sendable, CustomStringConvertible {
    /// The underlying handle.
    public let handle: Handle

    /// The deadline, on the loop's clock (`EventLoop.time()`). asyncio: `TimerHandle.when()`.
    public var when: Double { handle.deadline }

    /// Cancels the timer if it has not fired. Thread-safe, idempotent, O(1): the entry stays in
    /// the loop's timer heap, flagged, and is discarded when it reaches the top (or when more than
    /// half of a heap of over 100 entries is cancelled, by a rebuild).
    ///
    /// - Returns: true when this call kept the timer from firing; false when it had already
    ///   fired (or been claimed to fire) or was already cancelled.
    @discardableResult
    public func cancel() -> Bool { handle.cancel() }

    /// Whether `cancel()` has been called.
    public var isCancelled: Bool { handle.isCancelled }

    public var description: String { handle.description }
}
