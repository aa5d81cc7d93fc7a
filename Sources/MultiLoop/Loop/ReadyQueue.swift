/// The loop's FIFO of handles ready to run: a growable ring buffer.
///
/// Loop thread only (or the thread closing the loop). O(1) amortized append and removal; the
/// storage only grows, so a steady state allocates nothing.
struct ReadyQueue {
    private var storage: ContiguousArray<Handle?>
    private var headIndex = 0
    private(set) var count = 0

    /// A queue with `capacity` slots; 0 allocates nothing (the first append does).
    init(capacity: Int = 256) {
        storage = capacity > 0 ? ContiguousArray(repeating: nil, count: capacity) : []
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    mutating func append(_ handle: Handle) {
        if count == storage.count { grow() }
        var index = headIndex + count
        if index >= storage.count { index -= storage.count }
        storage[index] = handle
        count += 1
    }

    @inline(__always)
    mutating func popFirst() -> Handle? {
        guard count > 0 else { return nil }
        let handle = storage[headIndex].take()
        headIndex += 1
        if headIndex == storage.count { headIndex = 0 }
        count -= 1
        return handle
    }

    private mutating func grow() {
        var bigger = ContiguousArray<Handle?>(repeating: nil, count: max(16, storage.count * 2))
        for offset in 0..<count {
            var index = headIndex + offset
            if index >= storage.count { index -= storage.count }
            bigger[offset] = storage[index].take()
        }
        storage = bigger
        headIndex = 0
    }
}
