// Plain pthreads for the benchmarks: the loop threads and the extra producer threads.
//
// Started from nonisolated code (these initialisers), never from closures defined in top-level
// or main-actor code, and always joined.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A joinable pthread running `body` once.
final class JoinableThread: @unchecked Sendable {
    private var thread = pthread_t()

    /// What the new thread runs (passed to it retained, released when it has run).
    private final class Body: @unchecked Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    init(_ body: @escaping @Sendable () -> Void) {
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, Unmanaged.passRetained(Body(body)).toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() {
        pthread_join(thread, nil)
    }
}

/// A POSIX semaphore (no allocation per post or wait).
final class Semaphore: @unchecked Sendable {
    private let sem: UnsafeMutablePointer<sem_t>

    init() {
        sem = .allocate(capacity: 1)
        sem_init(sem, 0, 0)
    }

    deinit {
        sem_destroy(sem)
        sem.deallocate()
    }

    func signal() { sem_post(sem) }

    func wait() {
        while sem_wait(sem) != 0 {}  // EINTR
    }
}

/// A thread that runs the same job each time it is told to: an extra producer that exists for
/// the whole benchmark, so that no thread is created inside a measured iteration.
final class RepeatingWorker: @unchecked Sendable {
    private let job: @Sendable () -> Void
    private let start = Semaphore()
    private let done = Semaphore()
    // Written before `start.signal()`, read after `start.wait()`: ordered by the semaphore.
    private var exiting = false
    private var thread: JoinableThread?

    init(job: @escaping @Sendable () -> Void) {
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
    func go() { start.signal() }

    /// Waits until the run started by `go()` has finished.
    func waitUntilDone() { done.wait() }

    /// Ends and joins the thread.
    func shutdown() {
        exiting = true
        start.signal()
        thread?.join()
        thread = nil
    }
}
