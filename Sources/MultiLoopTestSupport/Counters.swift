import CMultiLoopSystem

// What the tests and the stress tool share (a target of its own, in no product): counters and a
// flag that any thread may touch, a seeded random generator, a joinable thread and a locked box.
// `package`: every target of this package may use them; users of the library see none of them.

/// A word any thread may add to (relaxed) and read (acquire).
package final class StressCounter: @unchecked Sendable {
    private let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 16)  // its own line

    package init() { word.initialize(repeating: 0, count: 16) }
    deinit { word.deallocate() }

    package func add(_ amount: Int = 1) { _ = ml_fetch_add_relaxed(word, ml_word_t(amount)) }
    package var value: Int { Int(ml_load_acquire(word)) }
}

/// A flag set once (release) and read by anyone (acquire).
package final class StressFlag: @unchecked Sendable {
    private let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 1)

    package init() { word.initialize(to: 0) }
    deinit { word.deallocate() }

    package func set() { ml_store_release(word, 1) }
    package var isSet: Bool { ml_load_acquire(word) != 0 }
}
