#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMultiLoopSystem

/// A lock for critical sections of a few instructions, in one word: no allocation, no system
/// call unless a holder is descheduled (then waiters `sched_yield`).
///
/// The word must stay valid while the lock is used (the caller passes the first stored word of
/// its object, see `firstStoredWord`). Acquire is a CAS `0 -> 1` with acquire ordering, release
/// a store of 0 with release ordering: what one holder wrote is seen by the next.
@usableFromInline package struct SpinLock {
    @usableFromInline package let word: UnsafeMutablePointer<ml_word_t>

    @inlinable package init(word: UnsafeMutablePointer<ml_word_t>) {
        self.word = word
    }

    @inline(__always)
    @inlinable package func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { ml_store_release(word, 0) }
        return try body()
    }

    @inline(__always)
    @inlinable func lock() {
        if ml_fetch_cas_acquire(word, 0, 1) == 0 { return }
        var spins = 0
        while true {
            // Read until it looks free, then try again: the CAS takes the line exclusively.
            while ml_load_relaxed(word) != 0 {
                spins += 1
                if spins < 64 { ml_cpu_relax() } else { sched_yield() }
            }
            if ml_fetch_cas_acquire(word, 0, 1) == 0 { return }
        }
    }
}
