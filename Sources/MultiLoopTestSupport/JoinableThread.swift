import _MultiLoopSystem

// The tests' thread and locked box are the library's own (`_MultiLoopSystem`'s `PThread` and
// `LockedValue`), under the names the tests use: one thread wrapper and one locked box in the
// package.

/// A pthread that tests start and always join (ThreadSanitizer reports unjoined threads).
package typealias JoinableThread = PThread

/// A thread-safe box for results collected from several threads.
package typealias Locked = LockedValue

extension PThread {
    /// A thread named "test" running `body`.
    package convenience init(_ body: @escaping @Sendable () -> Void) {
        self.init(name: "test", body)
    }

    /// Starts `count` threads running `body(index)` and joins them all.
    package static func runAll(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let threads = (0..<count).map { index in PThread { body(index) } }
        threads.forEach { $0.join() }
    }
}

/// Runs `body` on a thread of its own and awaits its result without holding one of the threads
/// of Swift's global pool. That pool has only as many threads as cores; a test that blocks one
/// for long (a stress run takes seconds under ThreadSanitizer) starves the async tests running
/// beside it, whose polls then time out.
package func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    let result = Locked<T?>(nil)
    let thread = Locked<JoinableThread?>(nil)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        thread.withLock { slot in
            slot = JoinableThread {
                let value = body()
                result.withLock { $0 = value }
                continuation.resume()
            }
        }
    }
    thread.value?.join()  // it has resumed us and is ending: a short wait
    return result.value!
}

/// A value touched only by one loop's thread at a time (its callbacks and tasks), and read by
/// others only after a hand-over that orders the accesses (the loop's, or the join of its
/// thread): no synchronization of its own, which is what the tests check under TSan.
package final class LoopConfined<Value>: @unchecked Sendable {
    package var value: Value
    package init(_ value: Value) { self.value = value }
}
