import _MultiLoopSystem
import CMultiLoopSystem

/// A chain taken from an `MPSCInbox`, handed out oldest first.
///
/// The chain arrives newest-first (each push links to the previous head); `init` reverses the
/// links in place, with no allocation. The batch owns the +1 references the inbox held: each
/// `next()` transfers one to the caller, and dropping a batch releases what was not consumed.
@usableFromInline package struct InboxBatch<Node: InboxNode>: ~Copyable {
    @usableFromInline var oldest: UnsafeMutableRawPointer?
    @usableFromInline private(set) var count: Int

    @inlinable package init(newest word: ml_word_t?) {
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

    @inlinable var isEmpty: Bool { oldest == nil }

    /// The next node, oldest first; the caller owns the returned reference.
    @inlinable package mutating func next() -> Node? {
        InboxChain.unlinkFirst(&oldest, as: Node.self)
    }

    deinit {
        InboxChain.releaseAll(oldest, as: Node.self)
    }
}

/// Helpers for a chain of nodes linked through `inboxNext`, each link owning a +1 reference.
@usableFromInline package enum InboxChain {
    /// Detaches the first node of `chain` and hands its reference to the caller.
    @inline(__always)
    @inlinable package static func unlinkFirst<Node: InboxNode>(_ chain: inout UnsafeMutableRawPointer?, as type: Node.Type) -> Node? {
        guard let raw = chain else { return nil }
        let node = Unmanaged<Node>.fromOpaque(raw).takeRetainedValue()
        chain = node.inboxNext
        node.inboxNext = nil
        return node
    }

    /// Releases every node of `chain`.
    @inlinable package static func releaseAll<Node: InboxNode>(_ chain: UnsafeMutableRawPointer?, as type: Node.Type) {
        var rest = chain
        while unlinkFirst(&rest, as: type) != nil {}
    }
}
