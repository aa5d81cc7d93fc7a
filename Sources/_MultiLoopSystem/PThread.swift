#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMultiLoopSystem

/// A pthread running one closure: joinable, or detached. `package`: the stress tool's threads
/// are these too.
///
/// Started from nonisolated code only (a closure formed in a `@MainActor` context would trap
/// when the new thread calls it). The name is set on the thread itself (Linux keeps 15 bytes).
package final class PThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void
    private let name: String
    private var joined = false

    /// Starts a thread running `body`. With `detached`, nobody joins it and it frees itself.
    package init(name: String, detached: Bool = false, _ body: @escaping @Sendable () -> Void) {
        self.body = body
        self.name = name
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<PThread>.fromOpaque(raw!).takeRetainedValue()
            _ = me.name.withCString { ml_thread_set_name($0) }
            me.body()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        if detached {
            pthread_detach(thread)
            joined = true
        }
    }

    /// Whether the calling thread is this one.
    package var isCurrent: Bool { pthread_equal(thread, pthread_self()) != 0 }

    /// Waits for the thread to end. Once; never from the thread itself.
    package func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    /// Lets the thread free itself when it ends: nobody will join it. Instead of `join`, once
    /// (either one makes the other a no-op); from any thread, the thread itself included.
    package func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(thread)
    }
}
