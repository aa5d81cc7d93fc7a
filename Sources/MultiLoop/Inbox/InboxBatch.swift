import CMultiLoopSystem

/// A chain taken from an `MPSCInbox`, handed out oldest first.
///
/// The chain arrives newest-first (each push links to the previous head); `init` reverses the
/// links in place, with no allocation. The batch owns the +1 references the inbox held: each
/// `next()` transfers one to the caller, and dropping a batch releases what was not consumed.
struct InboxBatch<Node: InboxNode>: ~Copyable {
    private var oldest: UnsafeMutableRawPointer?
    private(set) var count: Int

    init(newest word: ml_word_t?) {
        var previous: UnsafeMutableRawPointer? = nil
        var current = word.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
        var count = 0
        while let raw = current {
            let node = Unmanaged<Node>.fromOpaque(raw).takeUnretainedValue()
            current = node.inboxNext
            node.inboxNext = previous
            previous = raw
            count += 1
        }
        self.oldest = previous
        self.count = count
    }

    var isEmpty: Bool { oldest == nil }

    /// The next node, oldest first; the caller owns the returned reference.
    mutating func next() -> Node? {
        guard let raw = oldest else { return nil }
        let node = Unmanaged<Node>.fromOpaque(raw).takeRetainedValue()
        oldest = node.inboxNext
        node.inboxNext = nil
        return node
    }

    deinit {
        var raw = oldest
        while let current = raw {
            let node = Unmanaged<Node>.fromOpaque(current).takeRetainedValue()
            raw = node.inboxNext
            node.inboxNext = nil
        }
    }
}
