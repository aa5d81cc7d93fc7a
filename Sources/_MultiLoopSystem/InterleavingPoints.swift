// Interleaving points: in a debug build (`ML_INTERLEAVING_POINTS`, set by Package.swift for the
// debug configuration only), these functions shadow the C shim's functions of the same names
// for every call in this module and the modules above it (which import both), and call
// `ml_interleaving_point` before the real operation.
// Nothing else changes: the same call sites, the same operations, the same orderings.
//
// The point lets the tests' interleaving checker (Tests/MultiLoopTests/Interleaving) stop the
// thread before each atomic operation on a shared word, each spin-wait pause, each eventfd write,
// each epoll wait and each mutex lock and unlock (`PThreadMutex` calls `ml_mutex_point`), and
// choose which of its threads runs next: the real protocol code then runs through the interleavings the checker chooses, one operation at a time. With no hook
// installed (always, outside that checker) a point is one acquire load and a branch. Fences are
// not points: the checker runs one thread at a time, so every interleaving it explores is
// sequentially consistent (what it does not check, the Spin models and ThreadSanitizer do: see
// docs/design.md, "How the protocols are checked").
//
// A release build compiles none of this: the calls go straight to the C shim's inline functions.
import CMultiLoopSystem

#if ML_INTERLEAVING_POINTS
@inlinable @inline(__always)
package func ml_load_relaxed(_ p: UnsafeMutablePointer<ml_word_t>) -> ml_word_t {
    _ = ml_interleaving_point(Int32(ML_POINT_LOAD), p, 0, 0)
    return CMultiLoopSystem.ml_load_relaxed(p)
}

@inlinable @inline(__always)
package func ml_load_acquire(_ p: UnsafeMutablePointer<ml_word_t>) -> ml_word_t {
    _ = ml_interleaving_point(Int32(ML_POINT_LOAD), p, 0, 0)
    return CMultiLoopSystem.ml_load_acquire(p)
}

@inlinable @inline(__always)
package func ml_store_relaxed(_ p: UnsafeMutablePointer<ml_word_t>, _ value: ml_word_t) {
    _ = ml_interleaving_point(Int32(ML_POINT_STORE), p, 0, 0)
    CMultiLoopSystem.ml_store_relaxed(p, value)
}

@inlinable @inline(__always)
package func ml_store_release(_ p: UnsafeMutablePointer<ml_word_t>, _ value: ml_word_t) {
    _ = ml_interleaving_point(Int32(ML_POINT_STORE), p, 0, 0)
    CMultiLoopSystem.ml_store_release(p, value)
}

@inlinable @inline(__always)
package func ml_fetch_cas_release(_ p: UnsafeMutablePointer<ml_word_t>, _ expected: ml_word_t,
                          _ desired: ml_word_t) -> ml_word_t {
    _ = ml_interleaving_point(Int32(ML_POINT_RMW), p, 0, 0)
    return CMultiLoopSystem.ml_fetch_cas_release(p, expected, desired)
}

@inlinable @inline(__always)
package func ml_fetch_cas_acquire(_ p: UnsafeMutablePointer<ml_word_t>, _ expected: ml_word_t,
                          _ desired: ml_word_t) -> ml_word_t {
    _ = ml_interleaving_point(Int32(ML_POINT_RMW), p, 0, 0)
    return CMultiLoopSystem.ml_fetch_cas_acquire(p, expected, desired)
}

@inlinable @inline(__always)
package func ml_fetch_cas_acq_rel(_ p: UnsafeMutablePointer<ml_word_t>, _ expected: ml_word_t,
                       _ desired: ml_word_t) -> ml_word_t {
    _ = ml_interleaving_point(Int32(ML_POINT_RMW), p, 0, 0)
    return CMultiLoopSystem.ml_fetch_cas_acq_rel(p, expected, desired)
}

@inlinable @inline(__always)
package func ml_fetch_add_relaxed(_ p: UnsafeMutablePointer<ml_word_t>, _ delta: ml_word_t) -> ml_word_t {
    _ = ml_interleaving_point(Int32(ML_POINT_RMW), p, 0, 0)
    return CMultiLoopSystem.ml_fetch_add_relaxed(p, delta)
}

@inlinable @inline(__always)
package func ml_fetch_add_acq_rel(_ p: UnsafeMutablePointer<ml_word_t>, _ delta: ml_word_t) -> ml_word_t {
    _ = ml_interleaving_point(Int32(ML_POINT_RMW), p, 0, 0)
    return CMultiLoopSystem.ml_fetch_add_acq_rel(p, delta)
}

@inlinable @inline(__always)
package func ml_cpu_relax() {
    _ = ml_interleaving_point(Int32(ML_POINT_YIELD), nil, 0, 0)
    CMultiLoopSystem.ml_cpu_relax()
}

@inlinable @inline(__always)
package func ml_yield_cpu() {
    _ = ml_interleaving_point(Int32(ML_POINT_YIELD), nil, 0, 0)
    CMultiLoopSystem.ml_yield_cpu()
}

@inlinable @inline(__always)
package func ml_eventfd_signal(_ fd: Int32) -> Int32 {
    let answer = ml_interleaving_point(Int32(ML_POINT_SIGNAL), nil, Int64(fd), 0)
    if answer == Int64(ML_POINT_SIGNAL_DONE) { return 0 }
    return CMultiLoopSystem.ml_eventfd_signal(fd)
}

@inlinable @inline(__always)
package func ml_epoll_wait_ns(_ epfd: Int32, _ timeoutNanoseconds: Int64) -> Int32 {
    let answer = ml_interleaving_point(Int32(ML_POINT_WAIT), nil, Int64(epfd), timeoutNanoseconds)
    if answer != Int64(ML_POINT_PROCEED) { return Int32(answer) }
    return CMultiLoopSystem.ml_epoll_wait_ns(epfd, timeoutNanoseconds)
}

/// The same point as `ml_epoll_wait_ns`. A wait the checker decides (woken, timed out) returns
/// no readiness events: the loop treats it as a wake-up and re-checks its lanes.
@inlinable @inline(__always)
package func ml_epoll_wait_events(_ epfd: Int32, _ events: UnsafeMutablePointer<ml_io_event>,
                                  _ capacity: Int32, _ timeoutNanoseconds: Int64) -> Int32 {
    let answer = ml_interleaving_point(Int32(ML_POINT_WAIT), nil, Int64(epfd), timeoutNanoseconds)
    if answer != Int64(ML_POINT_PROCEED) { return 0 }
    return CMultiLoopSystem.ml_epoll_wait_events(epfd, events, capacity, timeoutNanoseconds)
}

/// A point before a mutex operation, called by `PThreadMutex` (pthread's own functions are not
/// shadowed: tests that import both this module and Glibc would find the names ambiguous).
@inlinable @inline(__always)
package func ml_mutex_point(_ kind: Int32, _ address: UnsafeMutableRawPointer) {
    _ = ml_interleaving_point(kind, address, 0, 0)
}
#else
/// Nothing in a release build.
@inlinable @inline(__always)
package func ml_mutex_point(_ kind: Int32, _ address: UnsafeMutableRawPointer) {}

// The four functions whose Swift signature is the C one's exactly: the modules above call them
// by their qualified names (`_MultiLoopSystem.ml_cpu_relax()`), which must exist in both
// configurations. (For the atomics the C functions' parameters are implicitly unwrapped
// pointers, so overload ranking already prefers the Swift functions above.)
@inlinable @inline(__always)
package func ml_cpu_relax() { CMultiLoopSystem.ml_cpu_relax() }

@inlinable @inline(__always)
package func ml_yield_cpu() { CMultiLoopSystem.ml_yield_cpu() }

@inlinable @inline(__always)
package func ml_eventfd_signal(_ fd: Int32) -> Int32 { CMultiLoopSystem.ml_eventfd_signal(fd) }

@inlinable @inline(__always)
package func ml_epoll_wait_ns(_ epfd: Int32, _ timeoutNanoseconds: Int64) -> Int32 {
    CMultiLoopSystem.ml_epoll_wait_ns(epfd, timeoutNanoseconds)
}

@inlinable @inline(__always)
package func ml_epoll_wait_events(_ epfd: Int32, _ events: UnsafeMutablePointer<ml_io_event>,
                                  _ capacity: Int32, _ timeoutNanoseconds: Int64) -> Int32 {
    CMultiLoopSystem.ml_epoll_wait_events(epfd, events, capacity, timeoutNanoseconds)
}
#endif
