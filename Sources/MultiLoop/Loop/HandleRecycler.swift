import CMultiLoopSystem

/// Spent closure handles, handed back by the loop thread for producers to reuse.
///
/// Why: a producer allocates each handle and the loop thread frees it. With glibc's malloc that
/// cross-thread free contends on the producer's arena lock at every submission, and costs more
/// than everything else a submission does. Recycling keeps handles moving in a circle instead.
///
/// Protocol (one word; a Treiber stack with one pusher and take-all poppers):
/// - `give` (the loop thread only): CAS head `old -> handle` (handle.next = old), release: the
///   reset fields must be visible to whoever takes the handle.
/// - `takeAll` (any thread): CAS head `chain -> EMPTY`, acquire. Several takers may race: one
///   gets the whole chain, the others see EMPTY.
/// ABA on the head word can happen (a taker reads h, h is taken, run and given back, the
/// taker's CAS then succeeds) and is harmless: a take-all uses nothing it read before its CAS
/// except the head value itself, and a give links the node to exactly the value it swaps out.
/// Popping a single node (CAS head to `old.next`) would not be safe; nothing does.
///
/// The bin is bounded by `capacity`: the loop gives at most `capacity` handles between two
/// observations of an empty bin (`size + budget <= capacity` always holds; the budget is reset
/// only after the loop, the only giver, has seen the head empty). Beyond that, spent handles are
/// freed as usual. Each thread's cache may hold up to one bin's worth besides. Both facts are
/// model-checked in `docs/model/recycler.pml`.
struct HandleRecycler: @unchecked Sendable {
    static let capacity = 1024

    let head: UnsafeMutablePointer<ml_word_t>

    /// Gives a spent handle back. Loop thread only; `budget` is the loop thread's count of
    /// handles it may still give. Returns false (and takes nothing) when the budget is spent.
    @inline(__always)
    func give(_ handle: ClosureHandle, budget: inout Int) -> Bool {
        guard budget > 0 else {
            // Full unless a producer emptied it since: then start counting again.
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

    /// Releases every spare handle (when the loop goes away).
    func drain() {
        InboxChain.releaseAll(takeAll(), as: ClosureHandle.self)
    }
}

/// A thread's own spare closure handles, refilled from a loop's recycler.
///
/// Touched only by its thread (it is reached through a thread-local slot), so it needs no
/// synchronization; the chain it holds came from `HandleRecycler.takeAll`'s acquire.
final class HandleCache: @unchecked Sendable {
    private static let slot = ThreadLocalSlot<HandleCache>(retaining: true)

    private var chain: UnsafeMutableRawPointer?

    /// The calling thread's cache.
    @inline(__always)
    static var current: HandleCache {
        if let cache = slot.value { return cache }
        let cache = HandleCache()
        slot.set(cache)
        return cache
    }

    /// A spare handle, refilling from `recycler` when empty; nil when there is none anywhere.
    @inline(__always)
    func take(refillingFrom recycler: HandleRecycler) -> ClosureHandle? {
        if chain == nil { chain = recycler.takeAll() }
        return InboxChain.unlinkFirst(&chain, as: ClosureHandle.self)
    }

    deinit {
        InboxChain.releaseAll(chain, as: ClosureHandle.self)
    }
}
