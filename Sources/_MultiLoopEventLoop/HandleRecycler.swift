import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

/// Spent closure handles, handed back by the loop thread to the producer that sent them, for
/// reuse: one per lane, on the lane's `returnWord`.
///
/// Why: a producer allocates each handle and the loop thread frees it. With glibc's malloc that
/// cross-thread free contends on the producer's arena lock at every submission, and costs more
/// than everything else a submission does. Recycling keeps handles moving in a circle instead.
/// Per lane (not one bin per loop, as until 2026-12): each producer gets back exactly the
/// handles it sent, so a producer that keeps `n` handles in flight allocates `n` handles once and
/// then none, whatever the other producers do and however the threads are scheduled.
///
/// Protocol (one word; a Treiber stack with one pusher and a take-all popper):
/// - `give` (the loop thread only): CAS head `old -> handle` (handle.next = old), release: the
///   reset fields must be visible to whoever takes the handle.
/// - `takeAll` (the lane's producer): CAS head `chain -> EMPTY`, acquire.
/// ABA on the head word can happen (the producer reads h, h is taken, run and given back, the
/// CAS then succeeds) and is harmless: a take-all uses nothing it read before its CAS except the
/// head value itself, and a give links the node to exactly the value it swaps out. Popping a
/// single node (CAS head to `old.next`) would not be safe with several takers; nothing does.
///
/// The stack is bounded by `capacity`: the loop gives at most `capacity` handles between two
/// observations of an empty stack (`size + budget <= capacity` always holds; the budget is reset
/// only after the loop, the only giver, has seen the head empty). Beyond that, spent handles are
/// freed as usual: a producer that stops sending keeps at most that many. The producer's cache
/// (`InboxLane.returnedCache`) holds what it took besides. Both facts are model-checked in
/// `docs/model/recycler.pml` (with 2 and 3 takers: a lane has one, a special case).
struct HandleRecycler: @unchecked Sendable {
    /// 64Ki handles (4 MiB): far above what a producer has in flight in the benchmarks (the
    /// loop takes at most 1024 items per lane per iteration), so that steady streams allocate
    /// nothing, and a bound on what an idle producer's lane keeps.
    static let capacity = 1 << 16

    let head: UnsafeMutablePointer<ml_word_t>

    /// Gives a spent handle back. Loop thread only; `budget` is the loop thread's count of
    /// handles it may still give. Returns false (and takes nothing) when the budget is spent.
    @inline(__always)
    func give(_ handle: ClosureHandle, budget: inout Int) -> Bool {
        guard budget > 0 else {
            // Full unless the producer emptied it since: then start counting again.
            guard ml_load_relaxed(head) == 0 else { return false }
            budget = Self.capacity
            return give(handle, budget: &budget)
        }
        let raw = Unmanaged.passRetained(handle).toOpaque()
        let word = ml_word_t(bitPattern: UInt(bitPattern: raw))
        var old = ml_load_relaxed(head)
        while true {
            handle.inboxNext = old == 0 ? nil : UnsafeMutableRawPointer(bitPattern: old)
            let seen = ml_fetch_cas_release(head, old, word)
            if seen == old { break }
            old = seen
        }
        budget = old == 0 ? Self.capacity - 1 : budget - 1
        return true
    }

    /// Takes every spare handle (newest first, linked through `inboxNext`; each link owns a +1).
    @inline(__always)
    func takeAll() -> UnsafeMutableRawPointer? {
        var old = ml_load_relaxed(head)
        while old != 0 {
            let seen = ml_fetch_cas_acquire(head, old, 0)
            if seen == old { return UnsafeMutableRawPointer(bitPattern: old) }
            old = seen
        }
        return nil
    }
}

extension InboxLane where Item == LoopWork {
    /// A spare closure handle for the producer: from its cache, refilled from what the loop gave
    /// back; nil when there is none. The lane's producer only.
    @inline(__always)
    func takeReturnedHandle() -> ClosureHandle? {
        let word = returnWord
        return withReturnedCache { cache in
            if cache == nil { cache = HandleRecycler(head: word).takeAll() }
            return InboxChain.unlinkFirst(&cache, as: ClosureHandle.self)
        }
    }

    /// Hands a spent handle back to the lane's producer. The consumer (loop thread) only.
    @inline(__always)
    func giveBack(_ handle: ClosureHandle) {
        let recycler = HandleRecycler(head: returnWord)
        _ = withReturnBudget { recycler.give(handle, budget: &$0) }
    }

    /// For `releaseReturned`: releases a chain of returned closure handles.
    static func releaseHandles(_ chain: UnsafeMutableRawPointer) {
        InboxChain.releaseAll(chain, as: ClosureHandle.self)
    }
}

/// Spent handles of local `callSoon` calls, kept by the loop thread for its next ones: a chain
/// through `inboxNext`, each link a +1, at most `capacity`. Loop thread only.
struct LocalHandleCache {
    static let capacity = 1024
    private var chain: UnsafeMutableRawPointer?
    private var count = 0

    mutating func take() -> ClosureHandle? {
        guard let handle = InboxChain.unlinkFirst(&chain, as: ClosureHandle.self) else { return nil }
        count -= 1
        return handle
    }

    mutating func give(_ handle: ClosureHandle) {
        guard count < Self.capacity else { return }
        handle.inboxNext = chain
        chain = Unmanaged.passRetained(handle).toOpaque()
        count += 1
    }

    mutating func releaseAll() {
        InboxChain.releaseAll(chain, as: ClosureHandle.self)
        chain = nil
        count = 0
    }
}
