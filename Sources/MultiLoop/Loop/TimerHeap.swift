/// The loop's timers: a binary min-heap ordered by (deadline, sequence).
///
/// The sequence number is given on insertion, so timers with equal deadlines fire in the order
/// they reached the loop (FIFO). asyncio's heap compares deadlines only, so its order for equal
/// deadlines is unspecified; MultiLoop's is not. Loop thread only.
struct TimerHeap {
    struct Entry {
        let when: Double
        let sequence: UInt64
        let handle: Handle

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            when < other.when || (when == other.when && sequence < other.sequence)
        }
    }

    private(set) var entries: [Entry] = []
    private var nextSequence: UInt64 = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    var first: Entry? { entries.first }

    mutating func insert(_ handle: Handle) {
        entries.append(Entry(when: handle.deadline, sequence: nextSequence, handle: handle))
        nextSequence &+= 1
        siftUp(entries.count - 1)
    }

    @discardableResult
    mutating func popFirst() -> Entry? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let top = entries.removeLast()
        if !entries.isEmpty { siftDown(0) }
        return top
    }

    /// Removes every entry whose handle is cancelled, in O(n); returns how many were removed.
    mutating func removeCancelled() -> Int {
        let before = entries.count
        entries.removeAll { $0.handle.isCancelledForRun }
        // Floyd's heap construction, O(n).
        if entries.count > 1 {
            for index in stride(from: entries.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        }
        return before - entries.count
    }

    /// Removes and returns every entry, in no particular order.
    mutating func removeAll() -> [Entry] {
        defer { entries = [] }
        return entries
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { return }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let count = entries.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var best = left
            let right = left + 1
            if right < count, entries[right].precedes(entries[left]) { best = right }
            guard entries[best].precedes(entries[parent]) else { return }
            entries.swapAt(best, parent)
            parent = best
        }
    }
}
