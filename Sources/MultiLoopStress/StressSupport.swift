#if canImport(Glibc)
import Glibc
#endif
import CMultiLoopSystem

/// A pthread mutex (the stress tool's own: the library's is internal).
final class StressMutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A joinable pthread running one closure. Join every one (ThreadSanitizer reports the rest).
final class StressThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void
    private let name: String?
    private var joined = false

    /// Starts the thread; `name` (15 bytes kept) shows in `top -H` and debuggers.
    init(name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        self.body = body
        self.name = name
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<StressThread>.fromOpaque(raw!).takeRetainedValue()
            if let name = me.name { _ = name.withCString { ml_thread_set_name($0) } }
            me.body()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    /// Starts `count` threads running `body(index)` and joins them all.
    static func runAll(_ count: Int, name: String, _ body: @escaping @Sendable (Int) -> Void) {
        let threads = (0..<count).map { index in StressThread(name: "\(name)-\(index)") { body(index) } }
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
