import _MultiLoopSystem
import CMultiLoopSystem

/// A value that can travel through an `MPSCInbox`: it is its own list node.
///
/// `inboxNext` is written by the one producer that pushes the node, before the releasing CAS
/// that publishes it, and read by the consumer after the acquiring CAS that takes the chain. No
/// other access is allowed while the node is in an inbox.
@usableFromInline package protocol InboxNode: AnyObject {
    var inboxNext: UnsafeMutableRawPointer? { get set }
}

/// The values of an inbox's head word other than a node. A node pointer is at least 16-byte
/// aligned, so it is never 0, 1 or 2. (Inlinable: `Future.isDone` compares with `closed` in the
/// caller's code.)
@usableFromInline
package enum InboxTag {
    @inlinable static var empty: ml_word_t { 0 }
    @inlinable static var sleeping: ml_word_t { 1 }
    @inlinable package static var closed: ml_word_t { 2 }
}

/// The result of `MPSCInbox.push(_:)`.
@usableFromInline package enum InboxPushOutcome: Equatable {
    /// Accepted; the consumer was awake (or about to look): no wake-up is needed.
    case accepted
    /// Accepted, and this push replaced `SLEEPING`: the caller must wake the consumer (once).
    case acceptedConsumerSleeping
    /// Refused: the inbox is closed. The node was not taken; nothing is lost.
    case rejectedClosed
}

/// The lock-free multi-producer, single-consumer inbox and its wake-up protocol.
///
/// One machine word holds the whole state, so one word's coherence order settles every race
/// between producers, the consumer going to sleep, and close:
///
///     head: EMPTY | SLEEPING | CLOSED | pointer to the newest node
///
/// - `push` (any thread): CAS head from `old` to the node (node.next = old if old is a node).
///   If old was `SLEEPING`, this producer, and only it, must wake the consumer. If old is
///   `CLOSED`, the push is refused without writing anything.
/// - `takeAll` (consumer): CAS head from a chain to `EMPTY`, then reverse the chain: FIFO per
///   producer, and a global order consistent with the head's coherence order.
/// - `prepareToSleep` / `finishSleeping` (consumer): CAS `EMPTY -> SLEEPING` before blocking; a
///   failure means work arrived. After waking, CAS `SLEEPING -> EMPTY`, or take the chain that
///   replaced `SLEEPING`.
/// - `close` (the consumer side, once): CAS head to `CLOSED` and take what was accepted before.
///
/// There is no ABA problem: nothing ever pops a single node, the consumer only swaps the whole
/// chain out. There is no allocation: the node is the item. An uncontended push is one CAS.
/// The protocol is model-checked in `docs/model/inbox.pml`.
///
/// The inbox does not own its head word: the owner passes a pointer to storage it keeps alive
/// (a cache-aligned word of an event loop, the first stored word of a future), and must call
/// `close()` (and consume the batch) before that storage goes away.
@usableFromInline package struct MPSCInbox<Node: InboxNode>: @unchecked Sendable {
    @inlinable static var empty: ml_word_t { InboxTag.empty }
    @inlinable static var sleeping: ml_word_t { InboxTag.sleeping }
    @inlinable package static var closed: ml_word_t { InboxTag.closed }

    @inline(__always)
    @inlinable static func isNode(_ word: ml_word_t) -> Bool { word > closed }

    @usableFromInline let head: UnsafeMutablePointer<ml_word_t>

    @inlinable package init(head: UnsafeMutablePointer<ml_word_t>) {
        self.head = head
    }

    /// Pushes `node`. Callable from any thread.
    ///
    /// On `.accepted` and `.acceptedConsumerSleeping` the inbox holds a +1 reference to the node
    /// until the consumer takes it. On `.rejectedClosed` nothing was retained.
    @inline(__always)
    @inlinable package func push(_ node: Node) -> InboxPushOutcome {
        // Relaxed first read: it is only a guess for the CAS, which re-reads atomically.
        var old = ml_load_relaxed(head)
        if old == Self.closed { return .rejectedClosed }
        let raw = Unmanaged.passRetained(node).toOpaque()
        let word = ml_word_t(bitPattern: UInt(bitPattern: raw))
        while true {
            node.inboxNext = Self.isNode(old) ? UnsafeMutableRawPointer(bitPattern: old) : nil
            // Release: the consumer's acquiring CAS must see `inboxNext` and everything the
            // producer wrote into the node before this point.
            let seen = ml_fetch_cas_release(head, old, word)
            if seen == old {
                return old == Self.sleeping ? .acceptedConsumerSleeping : .accepted
            }
            if seen == Self.closed {
                Unmanaged<Node>.fromOpaque(raw).release()
                return .rejectedClosed
            }
            old = seen
        }
    }

    /// Takes every accepted node, oldest first. Consumer only.
    @inlinable package func takeAll() -> InboxBatch<Node> {
        var old = ml_load_relaxed(head)
        while Self.isNode(old) {
            // Acquire: pairs with the producers' release, so the chain's links and payloads
            // are visible. Only the consumer swaps a chain out, so a failure means a newer push.
            let seen = ml_fetch_cas_acquire(head, old, Self.empty)
            if seen == old { return InboxBatch(newest: old) }
            old = seen
        }
        return InboxBatch(newest: nil)
    }

    /// Announces that the consumer is about to block. Consumer only.
    ///
    /// Returns `true` when the head went `EMPTY -> SLEEPING`: the consumer may block until a
    /// producer's wake-up (or a timeout) and must then call `finishSleeping()`. Returns `false`
    /// when work is already there (or the inbox is closed): do not block.
    @inlinable package func prepareToSleep() -> Bool {
        // Full barrier: the loop's earlier decisions (nothing ready) must not be reordered past
        // the publication of SLEEPING; seq_cst keeps the reasoning simple and costs nothing
        // next to the system call that follows.
        guard ml_fetch_cas_acq_rel(head, Self.empty, Self.sleeping) == Self.empty else { return false }
        // The consumer's next step may be a look at work published elsewhere (the lanes): that
        // look must not pass the publication of SLEEPING (see `InboxLane`, the Dekker pair).
        ml_fence_after_rmw()
        return true
    }

    /// Leaves the sleeping state after a wake-up of any kind. Consumer only.
    ///
    /// Returns the work that arrived while sleeping (possibly none: a timeout or a spurious
    /// wake-up).
    @inlinable package func finishSleeping() -> InboxBatch<Node> {
        let seen = ml_fetch_cas_acquire(head, Self.sleeping, Self.empty)
        if seen == Self.sleeping { return InboxBatch(newest: nil) }
        // A producer replaced SLEEPING with a chain (and owes, or already made, one wake-up).
        return takeAll()
    }

    /// For a producer that published work somewhere the consumer scans before it blocks (an
    /// `InboxLane`), after a full barrier: if the consumer sleeps, ends the sleep
    /// (`SLEEPING -> EMPTY`). Any thread.
    ///
    /// Returns true when this call ended the sleep: the caller, and no other thread, must then
    /// wake the consumer (once). One transition out of `SLEEPING` per sleep, whether by a push
    /// or by this, so a sleep costs at most one wake-up.
    @inline(__always)
    @inlinable package func claimWakeUp() -> Bool {
        // A plain load first: while the consumer is awake this line is only read, so the check
        // costs no transfer. The caller's full barrier orders it after the publication.
        guard ml_load_acquire(head) == Self.sleeping else { return false }
        return ml_fetch_cas_acq_rel(head, Self.sleeping, Self.empty) == Self.sleeping
    }

    /// Closes the inbox: every later push is refused. Returns what was accepted before.
    /// Consumer side, once; the consumer must not be sleeping.
    @inlinable package func close() -> InboxBatch<Node> {
        let chain = closeTakingChain()
        return InboxBatch(newest: chain == 0 ? nil : chain)
    }

    /// `close()`, returning the accepted chain as it is (newest first; 0 for none), for a caller
    /// that may make it an `InboxBatch` later, or never if it is 0.
    @inlinable package func closeTakingChain() -> ml_word_t {
        var old = ml_load_relaxed(head)
        while true {
            if old == Self.closed { return 0 }
            // acq_rel: acquire for the chain we take, release for whatever the closer wrote
            // before closing (a future's result is published by this CAS).
            let seen = ml_fetch_cas_acq_rel(head, old, Self.closed)
            if seen == old { return Self.isNode(old) ? old : 0 }
            old = seen
        }
    }

    /// Whether the inbox is closed (acquire: after `true`, what the closer published is visible).
    @inlinable package var isClosed: Bool { ml_load_acquire(head) == Self.closed }

    /// Whether the head currently holds a chain (a hint; relaxed).
    @inlinable package var hasPendingWork: Bool { Self.isNode(ml_load_relaxed(head)) }
}
