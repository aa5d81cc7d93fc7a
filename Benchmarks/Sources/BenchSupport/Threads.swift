// Plain pthreads for the benchmarks and the scaling sweep: loop threads and producer threads.
//
// Started from nonisolated code (these initialisers), never from closures defined in top-level
// or main-actor code, and always joined.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A joinable pthread running `body` once.
public final class JoinableThread: @unchecked Sendable {
    private var thread = pthread_t()

    /// What the new thread runs (passed to it retained, released when it has run).
    private final class Body: @unchecked Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    public init(_ body: @escaping @Sendable () -> Void) {
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, Unmanaged.passRetained(Body(body)).toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    public func join() {
        pthread_join(thread, nil)
    }
}

/// A POSIX semaphore (no allocation per post or wait).
public final class Semaphore: @unchecked Sendable {
    private let sem: UnsafeMutablePointer<sem_t>

    public init() {
        sem = .allocate(capacity: 1)
        sem_init(sem, 0, 0)
    }

    deinit {
        sem_destroy(sem)
        sem.deallocate()
    }

    public func signal() { sem_post(sem) }

    public func wait() {
        while sem_wait(sem) != 0 {}  // EINTR
    }

    /// Waits at most `seconds`; false when the time ran out first.
    public func wait(seconds: Double) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let whole = Int(seconds)
        deadline.tv_sec += whole
        deadline.tv_nsec += Int((seconds - Double(whole)) * 1e9)
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        while sem_timedwait(sem, &deadline) != 0 {
            if errno == ETIMEDOUT { return false }  // else EINTR: wait again
        }
        return true
    }
}

/// A thread that runs the same job each time it is told to: an extra producer that exists for
/// the whole benchmark, so that no thread is created inside a measured iteration.
public final class RepeatingWorker: @unchecked Sendable {
    private let job: @Sendable () -> Void
    private let start = Semaphore()
    private let done = Semaphore()
    // Written before `start.signal()`, read after `start.wait()`: ordered by the semaphore.
    private var exiting = false
    private var thread: JoinableThread?

    public init(job: @escaping @Sendable () -> Void) {
        self.job = job
        thread = JoinableThread { [self] in self.main() }
    }

    private func main() {
        while true {
            start.wait()
            if exiting { return }
            job()
            done.signal()
        }
    }

    /// Starts one run of the job (returns at once).
    public func go() { start.signal() }

    /// Waits until the run started by `go()` has finished.
    public func waitUntilDone() { done.wait() }

    /// Ends and joins the thread.
    public func shutdown() {
        exiting = true
        start.signal()
        thread?.join()
        thread = nil
    }
}

/// A value guarded by a plain pthread mutex (no priority inheritance, unlike
/// `Synchronization.Mutex` on Linux).
public final class PThreadLocked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
