import _MultiLoopEventLoop
import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

/// A result that will be set later, by any thread, and that any loop or thread can wait for.
///
/// asyncio equivalent: `asyncio.Future` (create one with `loop.createFuture()` or
/// `Future(loop:)`). Unlike asyncio's, it is thread-safe: `setResult`, `setException` and
/// `cancel` may be called from any thread, exactly one completion wins (the others get
/// `InvalidStateError.alreadyDone`, or `false` from `cancel`), and readers on any thread see the
/// completed value.
///
/// Done callbacks run on the loop that registered them (see `addDoneCallback`), never inline in
/// the completing call. A plain thread can block on it with `wait(timeout:)`.
///
/// ## How completion works
/// The done callbacks are a second `MPSCInbox` whose head lives in this object: registering is a
/// push, completing is a close. The completer first claims the future (a CAS on the claim word),
/// writes the outcome, then closes the callback list; that close (an acq_rel CAS) releases it, so whoever
/// later sees the list closed (`isDone`) also sees the outcome. A registration that finds the
/// list closed schedules its callback directly. So every callback is delivered exactly once,
/// whichever side wins the race.
///
/// The first task that awaits a pending future waits in the future itself (an awaiter slot:
/// see `AwaiterWord`); the completer resumes it directly, before it schedules the done
/// callbacks, which were all registered after it. Other awaiters wait in the callback list.
///
/// Not final: a `LoopTask` is a future (as in asyncio), in one object with its task's
/// bookkeeping. Nothing else subclasses it.
public class Future<Value: Sendable>: @unchecked Sendable, CustomStringConvertible {
    // MUST stay the first stored property (see `firstStoredWord`): [0] the done-callback list
    // head, [1] the completion claim, [2] the awaiter slot's state (`AwaiterWord`), [3] the
    // awaiter slot's continuation (its bits; written by the awaiter before it publishes
    // WAITING, read only by whoever wins the word from WAITING), [4...6] the value (see
    // `Future+Outcome.swift`). Accessed only through the C atomics and those pointers.
    private var _words: (ml_word_t, ml_word_t, ml_word_t, ml_word_t, ml_word_t, ml_word_t, ml_word_t) =
        (0, 0, 0, 0, 0, 0, 0)
    // The outcome, with the value in `_words`: written once, by the thread that won the claim,
    // before the list is closed; read only after `isDone` (an acquire load of the closed list)
    // returned true. No dynamic exclusivity check: that protocol, not an access set, is what
    // orders the accesses.
    @usableFromInline @exclusivity(unchecked) final var outcomeKind = OutcomeKind.pending
    @usableFromInline @exclusivity(unchecked) final var storedError: (any Error)?
    @usableFromInline @exclusivity(unchecked) final var wasCancelled = false
    /// Whether this future is a `LoopTask` (awaiting it from its own body is refused).
    @usableFromInline final let isTask: Bool

    /// The loop the future belongs to: done callbacks registered from a thread with no running
    /// loop run there.
    public let loop: EventLoop

    /// A pending future bound to `loop`. asyncio: `loop.create_future()`.
    @inlinable
    public init(loop: EventLoop) {
        self.loop = loop
        isTask = false
    }

    /// A task's future part.
    @inlinable
    init(loop: EventLoop, isTask: Bool) {
        self.loop = loop
        self.isTask = isTask
    }

    @inline(__always)
    private var callbacks: MPSCInbox<FutureNode> { MPSCInbox(head: firstStoredWord(of: self)) }
    /// The completion claim (`claimCompletion`), which also says whether the error was
    /// retrieved (`Future+Retrieval.swift`).
    @inlinable
    final var claimWord: UnsafeMutablePointer<ml_word_t> { firstStoredWord(of: self) + 1 }
    /// The awaiter slot's state word (`AwaiterWord`).
    @inlinable
    final var awaiterWord: UnsafeMutablePointer<ml_word_t> { firstStoredWord(of: self) + 2 }
    /// The awaiter slot's continuation, as bits (no exclusivity check: the word protocol orders
    /// every access).
    @inlinable
    final var awaiterContinuation: UnsafeContinuation<Value, any Error> {
        get { unsafeBitCast(firstStoredWord(of: self)[3], to: UnsafeContinuation<Value, any Error>.self) }
        set { firstStoredWord(of: self)[3] = unsafeBitCast(newValue, to: ml_word_t.self) }
    }
    /// Whether no done callback (or other awaiter) is registered: only then may an awaiter take
    /// the slot, so that the slot's awaiter, resumed first, is also the oldest registration.
    @inlinable
    final var hasNoRegistrations: Bool { ml_load_relaxed(firstStoredWord(of: self)) == 0 }

    deinit {
        // A future dropped while pending still owns the registrations in its list.
        _ = callbacks.close()
        if outcomeKind == .error { reportIfNeverRetrieved(atDeallocation: true) }
        destroyOutcome()
    }

    // MARK: State

    /// Whether the future has a result, an error, or was cancelled. asyncio: `done()`.
    @inlinable
    public final var isDone: Bool { ml_load_acquire(firstStoredWord(of: self)) == InboxTag.closed }

    /// Whether the future was cancelled. asyncio: `cancelled()`.
    public final var isCancelled: Bool { isDone && wasCancelled }

    /// The result; rethrows the error the future completed with.
    /// asyncio: `result()`.
    ///
    /// - Throws: `InvalidStateError.resultNotReady` while pending; `CancelledError` if it was
    ///   cancelled; otherwise the error given to `setException`.
    ///
    /// Reading an error this way marks it retrieved: it is not reported as never retrieved.
    @inlinable
    public final func result() throws -> Value {
        guard isDone else { throw InvalidStateError.resultNotReady }
        if outcomeKind == .error { markRetrieved() }
        return try storedOutcome()
    }

    /// The error the future completed with, or nil if it has a value. asyncio: `exception()`.
    ///
    /// Marks the error retrieved, as `result()` does.
    ///
    /// - Throws: `InvalidStateError.resultNotReady` while pending; `CancelledError` if cancelled.
    public final func exception() throws -> (any Error)? {
        guard isDone else { throw InvalidStateError.resultNotReady }
        guard let error = storedError else { return nil }
        markRetrieved()
        if wasCancelled { throw error }
        return error
    }

    // MARK: Completion (any thread)

    /// Completes the future with a value. asyncio: `set_result(value)`.
    /// - Throws: `InvalidStateError.alreadyDone` if it was already completed or cancelled.
    @inlinable
    public final func setResult(_ value: Value) throws(InvalidStateError) {
        guard complete(.success(value), cancelled: false) else { throw .alreadyDone }
    }

    /// Completes the future with an error. asyncio: `set_exception(error)`.
    /// - Throws: `InvalidStateError.alreadyDone` if it was already completed or cancelled.
    @inlinable
    public final func setException(_ error: any Error) throws(InvalidStateError) {
        guard complete(.failure(error), cancelled: false) else { throw .alreadyDone }
    }

    /// Cancels the future unless it is done; returns whether it did. asyncio: `cancel(msg)`.
    ///
    /// Overridden by `LoopTask` (a task is its own future): there it cancels the task's body,
    /// and the task is done, cancelled, only once the body has ended.
    @inlinable @discardableResult
    public func cancel(message: String? = nil) -> Bool {
        completeCancelled(message: message)
    }

    /// Completes the future as cancelled unless it is done: what `cancel(message:)` does to a
    /// plain future, and how a task records that its body ended cancelled.
    @inlinable
    final func completeCancelled(message: String?) -> Bool {
        complete(.failure(CancelledError(message: message)), cancelled: true)
    }

    /// Completes the future with `outcome` unless it is already done (cancelled meanwhile, say):
    /// what a closure's result becomes (`submit`, `schedule(after:)`).
    @inlinable
    final func complete(with outcome: Result<Value, any Error>) {
        _ = complete(outcome, cancelled: false)
    }

    /// Inlinable, as are the other hot paths of futures and tasks, so that it is specialized for
    /// the caller's `Value`: unspecialized, every use of `Result<Value, _>` or `Value?` looks up
    /// that type's metadata in the runtime's cache (a third of the time of a task's creation and
    /// await, measured). What does not depend on `Value` stays out of line.
    @inlinable
    final func complete(_ result: Result<Value, any Error>, cancelled: Bool) -> Bool {
        guard claimCompletion() else { return false }
        storeOutcome(result, cancelled: cancelled)
        if !cancelled, case .failure = result { trackUnretrievedFailure() }
        let registered = closeCallbackList()
        // The slot's awaiter first: it registered before everything in the list.
        if AwaiterWord.complete(awaiterWord) {
            let bits = firstStoredWord(of: self)[3]
            if bits & Self.slotNodeTag == 0 {
                awaiterContinuation.resume(with: result)
            } else {
                notifySlotNode(bits)
            }
        }
        if registered != 0 { notifyRegistrations(registered) }
        return true
    }

    /// Claims the right to complete: exactly one completer may write the outcome. Acquire is
    /// enough: the claim publishes nothing; the close of the list does.
    @usableFromInline
    final func claimCompletion() -> Bool {
        ml_fetch_cas_acquire(claimWord, 0, 1) == 0
    }

    /// Closes the callback list (publishing the outcome: the close is an acq_rel CAS) and
    /// returns the chain of registrations it held (0 for none), for `notifyRegistrations`.
    @usableFromInline
    final func closeCallbackList() -> ml_word_t {
        callbacks.closeTakingChain()
    }

    /// Tells the node registered in the slot (`registerInSlot`) that the future completed, and
    /// releases the slot's reference to it.
    @usableFromInline
    final func notifySlotNode(_ bits: ml_word_t) {
        let node = Unmanaged<FutureNode>.fromOpaque(UnsafeRawPointer(bitPattern: bits & ~Self.slotNodeTag)!)
            .takeRetainedValue()
        node.futureDidComplete(self)
    }

    /// The low bit of the slot's second word: set, the word is a `FutureNode` (a listener, such
    /// as a gather's), not a continuation. Both are pointers to objects of the runtime, at least
    /// 16-byte aligned.
    @inlinable
    static var slotNodeTag: ml_word_t { 1 }

    /// What `registerInSlot` did.
    enum SlotRegistration {
        case registered
        /// The future is done: nothing was registered (read the outcome now).
        case alreadyDone
        /// The slot is in use, or done callbacks are registered: register another way.
        case slotTaken
    }

    /// Registers `node` in the awaiter slot: `futureDidComplete` will be called once, on the
    /// completing thread, first of all registrations. Unlike `register`, the node's list link
    /// is not used, so one node may listen to many futures this way (a gather's waiter does).
    /// A listener in the slot cannot be withdrawn.
    final func registerInSlot(_ node: FutureNode) -> SlotRegistration {
        if isDone { return .alreadyDone }
        guard hasNoRegistrations && AwaiterWord.reserve(awaiterWord) else {
            return isDone ? .alreadyDone : .slotTaken
        }
        let bits = ml_word_t(bitPattern: UInt(bitPattern: Unmanaged.passRetained(node).toOpaque())) | Self.slotNodeTag
        firstStoredWord(of: self)[3] = bits
        if AwaiterWord.publish(awaiterWord) == AwaiterWord.reserved { return .registered }
        // Completed between the reservation and the publish (nothing else can move RESERVED).
        Unmanaged<FutureNode>.passUnretained(node).release()
        return .alreadyDone
    }

    /// Tells every registration of `chain`, oldest first, that the future completed.
    @usableFromInline
    final func notifyRegistrations(_ chain: ml_word_t) {
        var registered = InboxBatch<FutureNode>(newest: chain)
        while let node = registered.next() {
            node.futureDidComplete(self)
        }
    }

    // MARK: Callbacks

    /// Registers `callback` to run once the future is done, with the future as its argument.
    /// asyncio: `add_done_callback(fn)`.
    ///
    /// The callback runs on `loop` if given; else on the loop running on the calling thread;
    /// else on the future's own loop. It is scheduled there with `callSoon` (or through the
    /// completing thread's lane when that is another thread), never run inline by the
    /// completing call. If the future is already done it is scheduled at once. Callbacks run in
    /// registration order on each loop. An error it throws goes to that loop's exception handler.
    ///
    /// Overridden by `LoopTask` only, whose callbacks receive the task.
    ///
    /// - Returns: a token for `removeDoneCallback`.
    /// - Throws: `EventLoopError.closed` when the target loop is closed. If the target loop is
    ///   closed after registration and before completion, the callback cannot run; that is
    ///   reported to the loop's exception handler, never dropped silently.
    @discardableResult
    public func addDoneCallback(on loop: EventLoop? = nil, file: StaticString = #fileID, line: UInt = #line,
                                _ callback: @escaping @Sendable (Future<Value>) throws -> Void) throws(EventLoopError) -> DoneCallbackToken {
        let target = loop ?? EventLoop.runningOnThisThread.value ?? self.loop
        if target.isClosed { throw .closed }
        let node = DoneCallbackNode(target: target, file: file, line: line, body: callback)
        if callbacks.push(node) == .rejectedClosed {
            // Already done: the outcome is visible (the push read CLOSED with the CAS's order,
            // and `isDone` below re-acquires it).
            _ = isDone
            node.future = self
            try target.schedule(node)
        }
        return DoneCallbackToken(node: node)
    }

    /// Unregisters a callback; returns whether this kept it from running.
    /// asyncio: `remove_done_callback(fn)` (which returns the number removed).
    ///
    /// Removal wins over a callback that is registered, or already scheduled on its loop but
    /// not started; it cannot stop one that has started.
    @discardableResult
    public final func removeDoneCallback(_ token: DoneCallbackToken) -> Bool {
        token.node.cancelIfPending()
    }

    /// Registers an internal listener (a blocking waiter); false if the future is already done.
    final func register(_ node: FutureNode) -> Bool {
        callbacks.push(node) != .rejectedClosed
    }

    /// What the exception handler receives for an error never retrieved
    /// (`Future+Retrieval.swift`); a task adds its name and where it was created. Never called
    /// from `Future`'s own `deinit` on a task: a task reports in its own `deinit`, while its
    /// properties still exist.
    func neverRetrievedContext(_ error: any Error) -> EventLoopErrorContext {
        EventLoopErrorContext(message: "Future exception was never retrieved", error: error)
    }

    public var description: String {
        guard isDone else { return "<Future pending>" }
        if wasCancelled { return "<Future cancelled>" }
        switch Result(catching: storedOutcome) {
        case .success(let value): return "<Future result=\(value)>"
        case .failure(let error): return "<Future exception=\(error)>"
        }
    }
}

extension EventLoop {
    /// A new pending future bound to this loop. asyncio: `loop.create_future()`.
    ///
    /// An alias of `Future(loop: self)` (docs/api-guidelines.md, "Aliases"): Swift's
    /// initializer, and asyncio's factory for code ported from asyncio.
    public func createFuture<Value: Sendable>(of type: Value.Type = Value.self) -> Future<Value> {
        Future(loop: self)
    }
}

/// Identifies one registration made with `Future.addDoneCallback`.
public struct DoneCallbackToken: Sendable {
    let node: Handle

    /// The handle of the scheduled callback (cancelling it is the same as removing it).
    public var handle: Handle { node }
}
