import _MultiLoopEventLoop
import _MultiLoopSystem

/// A growable FIFO ring buffer that can also push at the front: the storage of `AsyncQueue`.
///
/// A value type with no synchronization: its owner guards it. O(1) amortized at both ends; the
/// storage only grows, so a queue in a steady state allocates nothing.
struct RingBuffer<Element> {
    private var slots: ContiguousArray<Element?> = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count == slots.count { grow() }
        slots[index(count)] = element
        count += 1
    }

    mutating func prepend(_ element: Element) {
        if count == slots.count { grow() }
        head = head == 0 ? slots.count - 1 : head - 1
        slots[head] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = slots[head].take()
        head = index(1)
        count -= 1
        return element
    }

    private func index(_ offset: Int) -> Int {
        let raw = head + offset
        return raw >= slots.count ? raw - slots.count : raw
    }

    private mutating func grow() {
        var bigger = ContiguousArray<Element?>(repeating: nil, count: max(8, slots.count * 2))
        for offset in 0..<count { bigger[offset] = slots[index(offset)].take() }
        slots = bigger
        head = 0
    }
}
