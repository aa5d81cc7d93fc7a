import CMultiLoopSystem

/// Cache-line-aligned words owned by one object, for the atomics of the C shim.
///
/// The words live outside any Swift object so that Swift never reads or writes them except
/// through the libatomic_ops wrappers: ThreadSanitizer then sees only atomic accesses, and no
/// Swift exclusivity access ever covers them. Each group of words starts on its own 128-byte
/// boundary (two 64-byte lines, the prefetcher's unit), so words written by producers do not
/// share a line with words written by the loop thread.
///
/// Not copyable: exactly one owner frees the storage, in its `deinit`.
@usableFromInline package struct CacheAlignedWords: ~Copyable {
    @usableFromInline static let lineBytes = 128
    @usableFromInline static let wordsPerLine = lineBytes / MemoryLayout<ml_word_t>.stride

    @usableFromInline let base: UnsafeMutablePointer<ml_word_t>
    @usableFromInline let lines: Int

    /// Allocates `lines` cache lines of zeroed words.
    @inlinable package init(lines: Int) {
        precondition(lines > 0)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: lines * Self.lineBytes, alignment: Self.lineBytes)
        raw.initializeMemory(as: ml_word_t.self, repeating: 0, count: lines * Self.wordsPerLine)
        self.base = raw.assumingMemoryBound(to: ml_word_t.self)
        self.lines = lines
    }

    /// The first word of line `line`.
    @inlinable package func word(line: Int, index: Int = 0) -> UnsafeMutablePointer<ml_word_t> {
        precondition(line < lines && index < Self.wordsPerLine)
        return base + line * Self.wordsPerLine + index
    }

    deinit {
        UnsafeMutableRawPointer(base).deallocate()
    }
}

/// A pointer to the first stored property of a class instance.
///
/// Used for an object's own atomic word (a `Handle`'s state, a `Future`'s callback list): it
/// must be the *first* stored property of the root class, of type `ml_word_t` (or a tuple of
/// them), and Swift code must never access that property directly, only through this pointer
/// and the C atomics. The address is stable for the object's lifetime: Swift never moves class
/// instances. (The same technique as swift-atomics' `ManagedAtomic`.)
@inlinable @inline(__always)
package func firstStoredWord(of object: AnyObject) -> UnsafeMutablePointer<ml_word_t> {
    _getUnsafePointerToStoredProperties(object).assumingMemoryBound(to: ml_word_t.self)
}
