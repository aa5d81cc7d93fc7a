import _MultiLoopInbox
import _MultiLoopSystem

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
    /// Inserts and pops since the last `removeCancelled` (see `shouldRemoveCancelled`).
    private var operationsSinceRebuild = 0
    /// How many times `removeCancelled` ran, and how many entries those runs scanned in all
    /// (for tests: a rebuild costs O(n)).
    private(set) var rebuilds = 0
    private(set) var rebuiltEntries = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    var first: Entry? { entries.first }

    mutating func insert(_ handle: Handle) {
        entries.append(Entry(when: handle.deadline, sequence: nextSequence, handle: handle))
        nextSequence &+= 1
        operationsSinceRebuild += 1
        siftUp(entries.count - 1)
    }

    @discardableResult
    mutating func popFirst() -> Entry? {
        guard !entries.isEmpty else { return nil }
        operationsSinceRebuild += 1
        entries.swapAt(0, entries.count - 1)
        let top = entries.removeLast()
        if !entries.isEmpty { siftDown(0) }
        return top
    }

    /// Whether to rebuild without the cancelled entries: the heap holds more than 100 entries,
    /// more than half of them are (by the loop's count) cancelled, and at least half as many
    /// inserts and pops as it holds have happened since the last rebuild. That last condition
    /// keeps the O(n) rebuilds at O(1) per operation, amortized, even when the count overstates
    /// the cancelled entries in the heap (timers cancelled while still in a lane are counted
    /// before they reach it: 1M of them once made every iteration rebuild a growing heap).
    func shouldRemoveCancelled(cancelledCount: Int) -> Bool {
        entries.count > 100 && cancelledCount * 2 > entries.count
            && operationsSinceRebuild * 2 >= entries.count
    }

    /// Removes every entry whose handle is cancelled, in O(n); returns how many were removed.
    mutating func removeCancelled() -> Int {
        operationsSinceRebuild = 0
        rebuilds += 1
        rebuiltEntries += entries.count
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
