/// 128 bytes of nothing, to keep stored properties written by one thread off the cache lines
/// that others read (two 64-byte lines: the adjacent-line prefetcher pairs them).
@usableFromInline package struct CacheLinePadding {
    @usableFromInline let words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    @inlinable package init() {}
}
