#if canImport(Glibc)
import Glibc
#endif
import CMultiLoopSystem
import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

// Threads and locks are the library's own `PThread` and `PThreadMutex` (package access); the
// counters, the flag, the random generator and `LoopConfined` are MultiLoopTestSupport's, which
// the tests share.

extension PThread {
    /// Starts `count` threads named `name-<index>` running `body(index)` and joins them all.
    static func runAll(_ count: Int, name: String, _ body: @escaping @Sendable (Int) -> Void) {
        let threads = (0..<count).map { index in PThread(name: "\(name)-\(index)") { body(index) } }
        for thread in threads { thread.join() }
    }
}

/// Blocks until `condition()` holds (checked every millisecond), or until `progress` has not
/// moved for `stall` seconds: then false. The scenarios whose work could get stuck (a lost hop, a
/// task that never ends) wait with this, so that a failure is reported, never a hang.
func waitUntil(progress: StressCounter, stall: Double = 30, _ condition: () -> Bool) -> Bool {
    var lastProgress = progress.value
    var lastChange = monotonicNanoseconds()
    while !condition() {
        usleep(1000)
        let now = monotonicNanoseconds()
        let current = progress.value
        if current != lastProgress {
            (lastProgress, lastChange) = (current, now)
        } else if Double(now - lastChange) / 1e9 > stall {
            return false
        }
    }
    return true
}

/// CLOCK_MONOTONIC nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> Int64 { ml_monotonic_ns() }
