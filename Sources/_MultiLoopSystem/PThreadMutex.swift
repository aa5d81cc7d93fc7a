#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMultiLoopSystem

/// A pthread mutex with a condition variable on CLOCK_MONOTONIC.
///
/// Used where a lock is the right tool (rare lifecycle transitions, blocking waits), never on a
/// hot path. A pthread mutex rather than `Synchronization.Mutex`: with Swift 6.3.1 on Linux the
/// latter gives ThreadSanitizer false positives. `package`: the stress tool locks with it too.
@usableFromInline package final class PThreadMutex: @unchecked Sendable {
    @usableFromInline let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    @usableFromInline let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    @inlinable package init() {
        let rc1 = pthread_mutex_init(mutex, nil)
        precondition(rc1 == 0, "pthread_mutex_init failed: \(rc1)")
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        let rc2 = pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        precondition(rc2 == 0, "pthread_cond_init failed: \(rc2)")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    @inline(__always)
    @inlinable package func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        // Interleaving points (debug builds): the checker tracks who holds the mutex, so it never
        // parks its holder while another thread it controls blocks on it in the kernel.
        ml_mutex_point(Int32(ML_POINT_LOCK), mutex)
        pthread_mutex_lock(mutex)
        defer {
            ml_mutex_point(Int32(ML_POINT_UNLOCK), mutex)
            pthread_mutex_unlock(mutex)
        }
        return try body()
    }

    /// Wakes every thread in `wait`. Call with the lock held.
    @inlinable package func broadcast() { pthread_cond_broadcast(condition) }

    /// Wakes one thread in `wait` (if any). Call with the lock held; only where every waiter
    /// waits for the same predicate, so that waking any one of them is enough.
    @inlinable package func signal() { pthread_cond_signal(condition) }

    /// Waits on the condition; call with the lock held, in a loop that re-checks the predicate.
    /// `deadlineNanoseconds` is on CLOCK_MONOTONIC (`ml_monotonic_ns`); nil waits forever.
    /// Returns false when the deadline passed.
    @inlinable package func wait(deadlineNanoseconds: Int64?) -> Bool {
        guard let deadline = deadlineNanoseconds else {
            ml_mutex_point(Int32(ML_POINT_BLOCK), condition)
            pthread_cond_wait(condition, mutex)
            return true
        }
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        ml_mutex_point(Int32(ML_POINT_BLOCK), condition)
        return pthread_cond_timedwait(condition, mutex, &ts) != ETIMEDOUT
    }
}
