// The runtime's floor for tasks: the least an executor can do. One thread runs jobs from a
// local array, in order; jobs enqueued from other threads go through a mutex-protected array
// and a condition variable. No timers, no I/O, no statistics, no lanes: whatever a task costs on
// it is what Swift's task runtime costs (creating, switching, resuming), and nothing else. The
// benchmarks report MultiLoop as a ratio to it: the floor is what "cannot go faster" means.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A minimal `TaskExecutor` on a thread of its own. Start tasks on it with
/// `Task(executorPreference: floor) { ... }`; `shutdown()` stops and joins the thread once the
/// jobs queued before it have run.
public final class FloorExecutor: TaskExecutor, @unchecked Sendable {
    // Touched by the executor's thread only.
    @exclusivity(unchecked) private var local: [UnownedJob] = []
    @exclusivity(unchecked) private var running: [UnownedJob] = []
    // Guarded by `mutex`.
    @exclusivity(unchecked) private var remote: [UnownedJob] = []
    @exclusivity(unchecked) private var stopping = false
    @exclusivity(unchecked) private var sleeping = false
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Written by the thread before it runs any job; read by `enqueue` (a thread can only see
    /// its own id there if it wrote it itself).
    @exclusivity(unchecked) private var threadID = pthread_t()
    private var thread: JoinableThread?

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        pthread_cond_init(condition, nil)
        local.reserveCapacity(1024)
        running.reserveCapacity(1024)
        remote.reserveCapacity(1024)
        let started = Semaphore()
        thread = JoinableThread { [self] in
            threadID = pthread_self()
            started.signal()
            main()
        }
        started.wait()
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if pthread_equal(pthread_self(), threadID) != 0 {
            local.append(job)
            return
        }
        pthread_mutex_lock(mutex)
        remote.append(job)
        if sleeping { pthread_cond_signal(condition) }
        pthread_mutex_unlock(mutex)
    }

    /// Stops the thread after the jobs already queued, and joins it. Once.
    public func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        thread?.join()
        thread = nil
    }

    private func main() {
        let executor = asUnownedTaskExecutor()
        while true {
            if local.isEmpty {
                pthread_mutex_lock(mutex)
                while remote.isEmpty && !stopping {
                    sleeping = true
                    pthread_cond_wait(condition, mutex)
                    sleeping = false
                }
                if remote.isEmpty {  // stopping, and nothing left
                    pthread_mutex_unlock(mutex)
                    return
                }
                swap(&local, &remote)
                pthread_mutex_unlock(mutex)
            }
            swap(&running, &local)
            for job in running { job.runSynchronously(on: executor) }
            running.removeAll(keepingCapacity: true)
        }
    }
}
