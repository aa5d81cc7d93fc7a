#if canImport(Glibc)
import Glibc
#endif
import CMultiLoopSystem
import MultiLoop
import _MultiLoopSystem

// Threads and locks are the library's own `PThread` and `PThreadMutex` (package access).

extension PThread {
    /// Starts `count` threads named `name-<index>` running `body(index)` and joins them all.
    static func runAll(_ count: Int, name: String, _ body: @escaping @Sendable (Int) -> Void) {
        let threads = (0..<count).map { index in PThread(name: "\(name)-\(index)") { body(index) } }
        for thread in threads { thread.join() }
    }
}

/// A word any thread may add to (relaxed) and read (acquire).
final class StressCounter: @unchecked Sendable {
    private let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 16)  // its own line

    init() { word.initialize(repeating: 0, count: 16) }
    deinit { word.deallocate() }

    func add(_ amount: Int = 1) { _ = ml_fetch_add_relaxed(word, ml_word_t(amount)) }
    var value: Int { Int(ml_load_acquire(word)) }
}

/// A flag set once (release) and read by anyone (acquire).
final class StressFlag: @unchecked Sendable {
    private let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 1)

    init() { word.initialize(to: 0) }
    deinit { word.deallocate() }

    func set() { ml_store_release(word, 1) }
    var isSet: Bool { ml_load_acquire(word) != 0 }
}

/// State touched by one loop's thread only (its callbacks and tasks); read by others only after
/// the group's shutdown has joined that thread.
final class LoopOwned<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
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

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
struct StressRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// Uniform in 0..<1.
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A generator for stream `stream` of this seed (one per thread).
    static func stream(_ seed: UInt64, _ stream: Int) -> StressRandom {
        var mixer = StressRandom(seed: seed ^ (UInt64(stream) &* 0xA076_1D64_78BD_642F))
        return StressRandom(seed: mixer.next())
    }
}
