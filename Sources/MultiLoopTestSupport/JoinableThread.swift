#if canImport(Glibc)
import Glibc
#endif

/// A pthread that tests start and always join (ThreadSanitizer reports unjoined threads).
package final class JoinableThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void
    private var joined = false

    package init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<JoinableThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Waits for the thread to end (once: a second call returns at once).
    package func join() {
        guard !joined else { return }
        joined = true
        let rc = pthread_join(thread, nil)
        precondition(rc == 0, "pthread_join failed: \(rc)")
    }

    /// Starts `count` threads running `body(index)` and joins them all.
    package static func runAll(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let threads = (0..<count).map { index in JoinableThread { body(index) } }
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

/// A thread-safe box for results collected from several threads.
package final class Locked<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var storage: Value

    package init(_ value: Value) {
        storage = value
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    package func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&storage)
    }

    package var value: Value { withLock { $0 } }
}
