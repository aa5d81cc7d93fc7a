import _MultiLoopInbox
import _MultiLoopSystem

/// The loop's FIFO of work ready to run: a growable ring buffer.
///
/// Loop thread only (or the thread closing the loop). O(1) amortized append and removal; the
/// storage only grows, so a steady state allocates nothing. The slots are raw memory (moved in
/// and out, never copied), so the hot path has no optional wrapping and no reference counting.
/// Not copyable: exactly one owner frees the storage, and the loop's double buffer is exchanged
/// with `swap`.
struct ReadyQueue: ~Copyable {
    private var storage: UnsafeMutablePointer<LoopWork>
    private var capacity: Int
    private var headIndex = 0
    private(set) var count = 0

    /// A queue with room for `capacity` items before it grows; 0 allocates nothing (a
    /// placeholder for `swap`, or a queue whose first append allocates).
    init(capacity: Int = 256) {
        self.capacity = capacity
        storage = capacity > 0
            ? .allocate(capacity: capacity)
            : UnsafeMutablePointer(bitPattern: MemoryLayout<LoopWork>.alignment)!  // never read
    }

    deinit {
        var index = headIndex
        for _ in 0..<count {
            (storage + index).deinitialize(count: 1)
            index += 1
            if index == capacity { index = 0 }
        }
        if capacity > 0 { storage.deallocate() }
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    mutating func append(_ work: consuming LoopWork) {
        if count == capacity { grow() }
        var index = headIndex + count
        if index >= capacity { index -= capacity }
        (storage + index).initialize(to: work)
        count += 1
    }

    @inline(__always)
    mutating func popFirst() -> LoopWork? {
        guard count > 0 else { return nil }
        let work = (storage + headIndex).move()
        headIndex += 1
        if headIndex == capacity { headIndex = 0 }
        count -= 1
        return work
    }

    private mutating func grow() {
        let newCapacity = max(16, capacity * 2)
        let bigger = UnsafeMutablePointer<LoopWork>.allocate(capacity: newCapacity)
        let firstRun = min(count, capacity - headIndex)
        bigger.moveInitialize(from: storage + headIndex, count: firstRun)
        (bigger + firstRun).moveInitialize(from: storage, count: count - firstRun)
        if capacity > 0 { storage.deallocate() }
        storage = bigger
        capacity = newCapacity
        headIndex = 0
    }
}
