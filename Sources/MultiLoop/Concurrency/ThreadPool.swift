import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// A pool of worker threads for blocking functions, so that they do not block a loop.
/// asyncio: the `concurrent.futures.ThreadPoolExecutor` behind `loop.run_in_executor`.
///
/// ## Threads
/// Started lazily, as Python's `ThreadPoolExecutor` does (`_adjust_thread_count`): a job
/// submitted while no worker is idle starts a new thread, up to `threadCount`; otherwise an idle
/// worker takes it. A pool that is never used has no thread, and one used by one job at a time
/// has one. A worker, once started, stays until the pool is shut down (as in Python: no idle
/// timeout). Threads are named "<name>-<i>" in the order they start.
///
/// ## Order
/// Jobs are taken in FIFO order by the first free worker (a pthread mutex and condition variable
/// guard the queue). A queued job can be withdrawn before a worker takes it (`runInExecutor`
/// does that when its awaiting task is cancelled); a job a worker has taken runs to its end.
///
/// ## Shutdown
/// `shutdown()` refuses new work, lets the workers run what was queued, and joins them.
/// `shutdown(wait: false)` refuses new work and returns at once: the workers still run what was
/// queued, then end on their own (asyncio's `shutdown(wait=False)`; nothing queued is dropped,
/// there is no `cancel_futures`). A pool you create that is deallocated is shut down and joined;
/// the default executor a loop creates for itself is let go instead (see
/// `EventLoop.runInExecutor`). `ThreadPool.shared` is never shut down.
public final class ThreadPool: @unchecked Sendable {
    /// A pool shared by the whole process: min(32, usable cores + 4) threads at most (Python's
    /// default `max_workers`), started as needed and detached. It cannot be shut down:
    /// `shutdown` does nothing on it, so a loop that uses it as its default executor
    /// (`setDefaultExecutor(.shared)`) leaves it running when the loop closes. Use it to share
    /// one set of threads among many loops (a `LoopGroup`'s, say), instead of a default executor
    /// per loop.
    public static let shared = ThreadPool(threads: defaultThreadCount, name: "ml-pool", kind: .shared)

    /// Python's default `max_workers`: min(32, usable cores + 4).
    static var defaultThreadCount: Int { min(32, Int(ml_usable_cpu_count()) + 4) }

    /// The most worker threads the pool starts (they are started as jobs need them).
    public let threadCount: Int
    // The workers hold the queue, not the pool: the pool's deinit can then stop and join them.
    let queue: ThreadPoolQueue
    let kind: Kind

    /// Who owns the pool, which decides what its deinit does.
    enum Kind {
        /// Created by a user: a deinit shuts it down and joins the workers.
        case owned
        /// A loop's own default executor: a deinit shuts it down without waiting (asyncio's
        /// `close()` does `shutdown(wait=False)`), so that dropping a loop never blocks.
        case loopDefault
        /// `ThreadPool.shared`: never shut down; its workers are detached.
        case shared
    }

    /// A pool of at most `threads` workers (at least 1), named "<name>-<i>", started as jobs
    /// need them. Python: `ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)`.
    public convenience init(threads: Int, name: String = "ml-pool") {
        self.init(threads: threads, name: name, kind: .owned)
    }

    init(threads: Int, name: String, kind: Kind) {
        threadCount = max(1, threads)
        self.kind = kind
        queue = ThreadPoolQueue(name: name, maximumWorkers: threadCount, detachedWorkers: kind == .shared)
    }

    deinit {
        queue.shutdown(wait: kind == .owned, waitForLetGo: false)
    }

    /// Refuses new work and, with `wait` (the default), blocks until the workers have run
    /// everything queued and ended (joined). Without `wait` it returns at once: the workers
    /// still run what was queued, then end on their own, detached. Python:
    /// `executor.shutdown(wait=wait)`.
    ///
    /// Idempotent; a later `shutdown()` also waits for workers let go by an earlier
    /// `shutdown(wait: false)`. Called from one of the pool's own workers it never waits (a
    /// thread cannot join itself): it refuses new work and lets the workers go. Does nothing on
    /// `ThreadPool.shared`.
    public func shutdown(wait: Bool = true) {
        guard kind != .shared else { return }
        queue.shutdown(wait: wait, waitForLetGo: true)
    }

    /// Queues `body` for a worker. Any thread. The returned job can be withdrawn while queued.
    /// - Throws: `ThreadPoolError.shutDown` after `shutdown`.
    func enqueue(_ body: @escaping @Sendable () -> Void) throws(ThreadPoolError) -> ThreadPoolJob {
        try queue.enqueue(body)
    }

    /// Withdraws `job` if no worker has taken it yet: it will never run, and its closure is
    /// released now. Returns whether it did.
    @discardableResult
    func withdraw(_ job: ThreadPoolJob) -> Bool {
        queue.withdraw(job)
    }

    /// Snapshots, for tests and diagnostics: workers started so far, workers that have not
    /// ended yet, workers waiting for a job, jobs queued and not taken.
    var startedThreads: Int { queue.counts.started }
    var liveThreads: Int { queue.counts.live }
    var idleThreads: Int { queue.counts.idle }
    var queuedJobs: Int { queue.counts.queued }
}

/// One job of a pool, from `enqueue` until a worker takes it or it is withdrawn. Both fields are
/// guarded by the pool's lock.
final class ThreadPoolJob: @unchecked Sendable {
    fileprivate var body: (@Sendable () -> Void)?
    /// In the queue and not withdrawn: a worker may still take it.
    fileprivate var isQueued = true

    fileprivate init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// The pool's queue and workers, shared by the workers (every field guarded by `lock`).
///
/// Invariants, kept under the lock:
/// - `queued` is the number of jobs in `jobs[head...]` that are still queued (withdrawn ones
///   stay in the array, inert, until a worker passes them).
/// - `idle` is the number of workers blocked in the condition wait. A submission starts a
///   worker when `queued > idle` (more jobs than workers free to take them, counting the jobs
///   already promised to a woken worker that has not run yet) and fewer than `maximumWorkers`
///   were started; else it signals one idle worker. Only workers wait on the condition while
///   the queue accepts work, so a signal always reaches one of them.
/// - `live` counts the workers that have not left `work()`; a worker decrements it and
///   broadcasts as it leaves, for `shutdown`'s wait for workers it let go.
/// - Each worker in `joinable` is joined or detached exactly once, by whoever takes it out.
final class ThreadPoolQueue: @unchecked Sendable {
    private let lock = PThreadMutex()
    private let name: String
    private let maximumWorkers: Int
    private let detachedWorkers: Bool
    private var jobs: [ThreadPoolJob] = []
    private var head = 0
    private var queued = 0
    private var idle = 0
    private var started = 0
    private var live = 0
    private var accepting = true
    private var joinable: [PThread] = []

    /// The queue whose worker the calling thread is (nil on other threads): a shutdown from a
    /// worker must not wait for itself.
    private static let currentWorker = ThreadLocalSlot<ThreadPoolQueue>(retaining: false)

    init(name: String, maximumWorkers: Int, detachedWorkers: Bool) {
        self.name = name
        self.maximumWorkers = maximumWorkers
        self.detachedWorkers = detachedWorkers
    }

    var counts: (started: Int, live: Int, idle: Int, queued: Int) {
        lock.withLock { (started, live, idle, queued) }
    }

    func enqueue(_ body: @escaping @Sendable () -> Void) throws(ThreadPoolError) -> ThreadPoolJob {
        let job = ThreadPoolJob(body)
        try lock.withLock { () throws(ThreadPoolError) in
            guard accepting else { throw .shutDown }
            jobs.append(job)
            queued += 1
            if queued > idle && started < maximumWorkers {
                startWorker()
            } else {
                lock.signal()
            }
        }
        return job
    }

    /// Starts a worker. With the lock held: the new thread blocks on it until the submission
    /// that started it has returned, then takes a job.
    private func startWorker() {
        let thread = PThread(name: "\(name)-\(started)", detached: detachedWorkers) { [self] in work() }
        started += 1
        live += 1
        if !detachedWorkers { joinable.append(thread) }
    }

    func withdraw(_ job: ThreadPoolJob) -> Bool {
        // The closure is released after the lock: its captures may run arbitrary deinit code.
        let body: (@Sendable () -> Void)? = lock.withLock {
            guard job.isQueued else { return nil }
            job.isQueued = false
            queued -= 1
            return job.body.take()
        }
        return body != nil
    }

    /// A worker's life: run jobs until the queue is stopped and empty.
    private func work() {
        Self.currentWorker.set(self)
        while let body = nextJob() {
            body()
        }
        Self.currentWorker.set(nil)
    }

    /// The next job's closure, waiting for one while the queue accepts work; nil once the queue
    /// is stopped and empty (the worker then leaves, counted out of `live`).
    private func nextJob() -> (@Sendable () -> Void)? {
        lock.withLock {
            while true {
                while head < jobs.count {
                    let job = jobs[head]
                    head += 1
                    if head == jobs.count {
                        jobs.removeAll(keepingCapacity: true)
                        head = 0
                    }
                    if job.isQueued {
                        job.isQueued = false
                        queued -= 1
                        return job.body.take()
                    }
                }
                if !accepting {
                    live -= 1
                    lock.broadcast()
                    return nil
                }
                idle += 1
                _ = lock.wait(deadlineNanoseconds: nil)
                idle -= 1
            }
        }
    }

    /// Stops accepting work; with `wait`, joins the workers not yet joined or let go, and with
    /// `waitForLetGo` also waits for the workers an earlier call let go. Without `wait` (or on
    /// one of its own workers) it lets the workers go: they detach and end once the queue is
    /// empty.
    func shutdown(wait: Bool, waitForLetGo: Bool) {
        let onOwnWorker = Self.currentWorker.value === self
        let workers = lock.withLock {
            accepting = false
            lock.broadcast()
            defer { joinable = [] }
            return joinable
        }
        guard wait && !onOwnWorker else {
            for worker in workers { worker.detach() }
            return
        }
        for worker in workers { worker.join() }
        guard waitForLetGo else { return }
        lock.withLock {
            while live > 0 { _ = lock.wait(deadlineNanoseconds: nil) }
        }
    }
}

/// Why a thread pool refused work.
public enum ThreadPoolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `shutdown()` was called: the pool takes no more work.
    case shutDown

    public var description: String { "the thread pool is shut down" }
}
