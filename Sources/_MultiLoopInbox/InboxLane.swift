import _MultiLoopSystem
import CMultiLoopSystem

/// One producer's private lane into one consumer: an unbounded single-producer, single-consumer
/// queue of segments, with a close that never loses an accepted item.
///
/// Why lanes: when every producer pushes one node per item onto one shared word (`MPSCInbox`),
/// each item costs at least three cache-line transfers between the producer's core and the
/// consumer's (the node there and back, and the shared head), about 70 ns each on this project's
/// machine. A lane stores items side by side in segments that only its producer writes, and
/// publishes them with a counter: the consumer pulls whole lines of items at once, producers
/// never touch a word another producer writes, and nothing is allocated per item (a segment
/// holds `segmentCapacity` items; a spent segment goes back to the producer for reuse).
///
/// The publication word (`published`, its own cache line):
///
///     published = 2 * (items published so far) + closedBit
///
/// - `push` (the lane's producer, one thread at a time): write the item into the next free slot
///   (private memory until published), then CAS `published` from `2n` to `2(n + 1)`. Only the
///   producer increments, so the CAS fails only when the consumer has set the closed bit: the
///   item is then destroyed in place and the push refused. A push that succeeded is never lost.
/// - `drain` (the consumer): load `published` (acquire) and take every item up to it, in order.
/// - `close` (the consumer, once): CAS the closed bit in (a CAS loop) and drain what the count
///   it swapped out says was published. A push either succeeded before that CAS (and is drained)
///   or sees the bit (and is refused): RMWs on one word are totally ordered.
///
/// Memory ordering: the push's CAS is libatomic_ops' `_full` (release, so that the consumer's
/// acquire load sees the item's bytes and a new segment's link), followed by
/// `ml_fence_after_rmw()` (a seq_cst fence; free on x86, where the `lock cmpxchg` already is
/// one), so that the caller's following load of the consumer's wake word is not ordered before
/// the publication. That load and the consumer's `EMPTY -> SLEEPING` CAS
/// followed by its scan of the lanes form a Dekker pair: at least one side sees the other, so
/// either the consumer sees the item before it blocks or the producer sees that it sleeps and
/// wakes it. (`docs/model/lanes.pml` model-checks the whole protocol.) On x86-64 the CAS is a
/// `lock cmpxchg` on a line the producer usually owns: about 18 ns.
///
/// Registration: a lane is itself an `InboxNode`. Its producer pushes it once onto the
/// consumer's `MPSCInbox` (which then carries only registrations and the sleep state), before
/// its first item; the consumer adds it to the lanes it drains.
///
/// Lifetime: the producer and the consumer each hold a strong reference. A producer that goes
/// away calls `abandon()`; the consumer drops an abandoned lane once it is empty.
///
/// Across modules: the lane's code is `@inlinable` (its fields `@usableFromInline`), so that the
/// loop's module specializes it for `LoopWork` instead of calling unspecialized generic code.
/// Every `var` is `@exclusivity(unchecked)`: inlined into another module, the compiler no longer
/// sees every access, and would keep Swift's dynamic exclusivity check on each one.
@usableFromInline package final class InboxLane<Item>: InboxNode, @unchecked Sendable {
    /// Items per segment. With 32-byte items a segment is 4 KiB.
    @inlinable static var segmentCapacity: Int { 128 }

    /// Line 0: `published`. Line 1: the spare segment (the consumer stores a pointer, the
    /// producer takes it), the abandoned flag, and the head of the returned nodes (the consumer
    /// gives, the producer takes all). Only the C atomics touch them.
    @usableFromInline let words = CacheAlignedWords(lines: 2)
    @inlinable var publishedWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 0) }
    @inlinable var spareWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 0) }
    @inlinable var abandonedWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 1) }

    /// The head of a stack of nodes the consumer hands back to the producer for reuse (closure
    /// handles that travelled through the lane): a `HandleRecycler`, which the layer above runs
    /// on this word. The lane only stores it, and releases what is left when it goes away.
    @inlinable package var returnWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 2) }
    /// Releases a chain of returned nodes (linked through `InboxNode.inboxNext`); set by the
    /// producer before it registers the lane, called by `deinit` for what is left.
    @usableFromInline @exclusivity(unchecked) package var releaseReturned: ((UnsafeMutableRawPointer) -> Void)?

    /// The registration link (see `InboxNode`): written by the producer before it registers the
    /// lane, then by the consumer when it takes the registration.
    @usableFromInline @exclusivity(unchecked) package var inboxNext: UnsafeMutableRawPointer? = nil

    @usableFromInline let separatorFromSharedFields = CacheLinePadding()

    // Producer-only state. The slots' address is kept apart from the segment object, so a push
    // touches no object header (no reference counting on the hot path). Here and below,
    // `@exclusivity(unchecked)`: each field has one owning side, which is what keeps it safe;
    // Swift's dynamic check (an access-set update per access) cannot see across threads and
    // cost the hot path a call per field access.
    @usableFromInline @exclusivity(unchecked) var tail: LaneSegment<Item>
    @usableFromInline @exclusivity(unchecked) var tailSlots: UnsafeMutablePointer<Item>
    @usableFromInline @exclusivity(unchecked) var tailIndex = 0
    @usableFromInline @exclusivity(unchecked) var producerCount = 0
    /// Returned nodes the producer took from `returnWord` and has not reused yet (the layer above
    /// reaches it through `withReturnedCache`).
    @usableFromInline @exclusivity(unchecked) var returnedCache: UnsafeMutableRawPointer?
    /// An open batch (see `beginBatch`): how deep the nesting, how many items written and not
    /// published, and where the first of them is.
    @usableFromInline @exclusivity(unchecked) var batchDepth = 0
    @usableFromInline @exclusivity(unchecked) var batchCount = 0
    @usableFromInline @exclusivity(unchecked) var batchStartSlots: UnsafeMutablePointer<Item>?
    @usableFromInline @exclusivity(unchecked) var batchStartSegment: LaneSegment<Item>?
    @usableFromInline @exclusivity(unchecked) var batchStartIndex = 0

    @usableFromInline let separatorFromProducerFields = CacheLinePadding()

    // Consumer-only state.
    @usableFromInline @exclusivity(unchecked) var head: LaneSegment<Item>
    @usableFromInline @exclusivity(unchecked) var headSlots: UnsafeMutablePointer<Item>
    @usableFromInline @exclusivity(unchecked) var headIndex = 0
    @usableFromInline @exclusivity(unchecked) var consumerCount = 0
    /// How many more nodes the consumer may give back before it sees `returnWord` empty again
    /// (the bound of `HandleRecycler`, which sets it on its first give; reached through
    /// `withReturnBudget`).
    @usableFromInline @exclusivity(unchecked) var returnBudget = 0

    /// `returnedCache`, for the producer's code in the layer above. The access is made here:
    /// Swift applies `@exclusivity(unchecked)` to the accesses of the declaring module's code
    /// (this one's inlined code included), and a direct access from the loop's module kept the
    /// dynamic check, a runtime call per callback on the producer's path.
    @inlinable @inline(__always)
    package func withReturnedCache<R>(_ body: (inout UnsafeMutableRawPointer?) -> R) -> R {
        body(&returnedCache)
    }

    /// `returnBudget`, for the consumer's code in the layer above (see `withReturnedCache`).
    @inlinable @inline(__always)
    package func withReturnBudget<R>(_ body: (inout Int) -> R) -> R {
        body(&returnBudget)
    }

    @inlinable package init() {
        let first = LaneSegment<Item>()
        tail = first
        tailSlots = first.slots
        head = first
        headSlots = first.slots
    }

    deinit {
        // Nobody else holds the lane now: every published item is in [consumerCount,
        // producerCount) (a refused push destroyed its own item). Destroy them, then the spare.
        while consumerCount < producerCount {
            if headIndex == Self.segmentCapacity { advanceHead() }
            (headSlots + headIndex).deinitialize(count: 1)
            headIndex += 1
            consumerCount += 1
        }
        if let raw = UnsafeRawPointer(bitPattern: ml_load_acquire(spareWord)) {
            Unmanaged<LaneSegment<Item>>.fromOpaque(raw).release()
        }
        if let releaseReturned {
            if let chain = returnedCache { releaseReturned(chain) }
            if let chain = UnsafeMutableRawPointer(bitPattern: ml_load_acquire(returnWord)) { releaseReturned(chain) }
        }
    }

    // MARK: Producer side

    /// Publishes `item`. The lane's producer only (one thread at a time).
    ///
    /// Returns false when the consumer has closed the lane: the item was destroyed (its
    /// references released), nothing was published. On true, the consumer will take the item
    /// exactly once. The caller must then check whether the consumer sleeps (see the type's
    /// documentation); this call's barrier orders that check after the publication.
    @inline(__always)
    @inlinable package func push(_ item: consuming Item) -> Bool {
        if batchDepth > 0 {
            // Inside an open batch: the item joins it, and is published (or refused) with it.
            append(item)
            return true
        }
        if tailIndex == Self.segmentCapacity { advanceTail() }
        let slot = tailSlots + tailIndex
        slot.initialize(to: item)
        let expected = ml_word_t(producerCount) << 1
        // Full barrier: see the type's documentation (publication + Dekker with the sleeper).
        guard ml_fetch_cas_acq_rel(publishedWord, expected, expected + 2) == expected else {
            slot.deinitialize(count: 1)
            return false
        }
        // The caller's next step is a load of the wake word: it must not pass the publication.
        ml_fence_after_rmw()
        tailIndex += 1
        producerCount += 1
        return true
    }

    /// Opens a batch (or a nested one): until the matching `publishBatch`, `append` and `push`
    /// write items without publishing them. The lane's producer only.
    ///
    /// A batch is published with one CAS of `published` from `2n` to `2(n + k)`: the same
    /// protocol as `push` with `k` items at once (the consumer takes whatever the count covers;
    /// a close sets the bit and takes what it covers), so the batch is accepted or refused as a
    /// whole. `docs/model/lanes.pml` lets a producer publish two items with one CAS.
    @inline(__always)
    @inlinable package func beginBatch() {
        batchDepth += 1
    }

    /// Writes `item` into the open batch (not published yet). The lane's producer only.
    @inline(__always)
    @inlinable package func append(_ item: consuming Item) {
        if tailIndex == Self.segmentCapacity { advanceTail() }
        if batchCount == 0 {
            batchStartSegment = tail
            batchStartSlots = tailSlots
            batchStartIndex = tailIndex
        }
        (tailSlots + tailIndex).initialize(to: item)
        tailIndex += 1
        batchCount += 1
    }

    /// Closes the batch opened by the matching `beginBatch`; the outermost one publishes every
    /// item written since it opened, with one CAS and the same barrier as `push`. Returns false
    /// when the consumer has closed the lane: every item of the batch was destroyed, none is
    /// published. The lane's producer only.
    @inline(__always)
    @inlinable package func publishBatch() -> Bool {
        batchDepth -= 1
        guard batchDepth == 0, batchCount > 0 else { return true }
        let count = batchCount
        batchCount = 0
        let expected = ml_word_t(producerCount) << 1
        // Full barrier: see the type's documentation (publication + Dekker with the sleeper).
        guard ml_fetch_cas_acq_rel(publishedWord, expected, expected + (ml_word_t(count) << 1)) == expected else {
            destroyUnpublished(count)
            return false
        }
        ml_fence_after_rmw()
        producerCount += count
        batchStartSegment = nil
        batchStartSlots = nil
        return true
    }

    /// Destroys the `count` items of a refused batch, from its first slot on (across segments).
    @inlinable func destroyUnpublished(_ count: Int) {
        var segment = batchStartSegment
        var slots = batchStartSlots
        var index = batchStartIndex
        for _ in 0..<count {
            if index == Self.segmentCapacity {
                segment = segment?.next
                slots = segment?.slots
                index = 0
            }
            (slots! + index).deinitialize(count: 1)
            index += 1
        }
        // The lane is closed: a later push writes past these slots and is refused too.
        batchStartSegment = nil
        batchStartSlots = nil
    }

    /// Moves the producer to a fresh segment: the spare the consumer handed back, else a new one.
    @inlinable func advanceTail() {
        let next: LaneSegment<Item>
        // Acquire: the consumer finished with the spare's slots before it published it.
        let spare = ml_load_acquire(spareWord)
        if let raw = UnsafeRawPointer(bitPattern: spare) {
            // Only the consumer stores a segment, and only after it has seen the word empty;
            // only the producer empties it. So nobody changes it between this load and store.
            ml_store_relaxed(spareWord, 0)
            next = Unmanaged<LaneSegment<Item>>.fromOpaque(raw).takeRetainedValue()
        } else {
            next = LaneSegment<Item>()
        }
        // A plain store: the consumer reads `next` only after its acquire load of a count that
        // includes an item of the new segment, which the next push's CAS publishes.
        tail.next = next
        tail = next
        tailSlots = next.slots
        tailIndex = 0
    }

    /// Tells the consumer that the producer will never push again (its thread is exiting).
    /// Release: every earlier push is ordered before the flag.
    @inlinable package func abandon() {
        ml_store_release(abandonedWord, 1)
    }

    /// Whether the consumer has closed the lane (a hint for the producer; acquire).
    @inlinable package var isClosed: Bool { ml_load_acquire(publishedWord) & 1 != 0 }

    // MARK: Consumer side

    /// Whether items are published that the consumer has not taken. Consumer only.
    ///
    /// Acquire: pairs with the push's CAS; the sleeper's scan relies on it (see the type's
    /// documentation).
    @inline(__always)
    @inlinable package var hasPendingItems: Bool {
        Int(ml_load_acquire(publishedWord) >> 1) != consumerCount
    }

    /// Whether the producer has abandoned the lane. Consumer only; acquire (pairs with
    /// `abandon()`), so a `drain` after a true answer takes the producer's last item.
    @inlinable package var isAbandoned: Bool { ml_load_acquire(abandonedWord) != 0 }

    /// Hands the published items to `body`, oldest first, at most `limit` of them; returns how
    /// many. What is left stays published (`hasPendingItems`) for the next drain. Consumer only.
    @inline(__always)
    @inlinable package func drain(limit: Int = .max, _ body: (consuming Item) -> Void) -> Int {
        let available = Int(ml_load_acquire(publishedWord) >> 1)
        return take(upTo: available - consumerCount > limit ? consumerCount + limit : available, body)
    }

    /// Closes the lane (every later push is refused) and hands every item published before to
    /// `body`, oldest first; returns how many. Consumer only; idempotent.
    @inlinable package func close(_ body: (consuming Item) -> Void) -> Int {
        var old = ml_load_relaxed(publishedWord)
        while old & 1 == 0 {
            // Full barrier: acquire for the items the count covers; seq_cst orders the close
            // against the producer's CAS (one word: they are totally ordered anyway).
            let seen = ml_fetch_cas_acq_rel(publishedWord, old, old | 1)
            if seen == old { break }
            old = seen
        }
        return take(upTo: Int(old >> 1), body)
    }

    @inline(__always)
    @inlinable func take(upTo available: Int, _ body: (consuming Item) -> Void) -> Int {
        let count = available - consumerCount
        while consumerCount < available {
            if headIndex == Self.segmentCapacity { advanceHead() }
            body((headSlots + headIndex).move())
            headIndex += 1
            consumerCount += 1
        }
        return count
    }

    /// Moves the consumer to the next segment and offers the spent one to the producer.
    @inlinable func advanceHead() {
        guard let next = head.next else {
            preconditionFailure("InboxLane: a published count runs past the last linked segment")
        }
        let spent = head
        spent.next = nil
        head = next
        headSlots = next.slots
        headIndex = 0
        // Offer the spent segment unless the producer has not taken the previous one yet.
        if ml_load_relaxed(spareWord) == 0 {
            let raw = Unmanaged.passRetained(spent).toOpaque()
            // Release: the producer reuses these slots only after it sees the pointer.
            ml_store_release(spareWord, ml_word_t(bitPattern: UInt(bitPattern: raw)))
        }
    }
}

/// A fixed block of lane slots and the link to the next block.
///
/// The slots are uninitialized memory except for the items published and not yet taken. `next`
/// is written by the producer before it publishes the first item of the next segment, and read
/// by the consumer after it has acquired that publication; a spent segment's `next` is cleared
/// by the consumer before it hands the segment back.
@usableFromInline final class LaneSegment<Item> {
    @usableFromInline let slots: UnsafeMutablePointer<Item>
    @usableFromInline @exclusivity(unchecked) package var next: LaneSegment<Item>?

    @inlinable init() {
        slots = UnsafeMutablePointer<Item>.allocate(capacity: InboxLane<Item>.segmentCapacity)
    }

    deinit {
        slots.deallocate()
    }
}
