import CMultiLoopSystem

/// A pool of worker threads for blocking functions, so that they do not block a loop.
/// asyncio: the `concurrent.futures.ThreadPoolExecutor` behind `loop.run_in_executor`.
///
/// Work is taken in FIFO order by the first idle worker (a pthread mutex and condition
/// variable guard the queue). `shutdown()` refuses new work, lets the workers finish what was
/// submitted, and joins them; a pool is also shut down when it is deallocated. The shared pool
/// (`ThreadPool.shared`) lives as long as the process, its threads detached.
public final class ThreadPool: @unchecked Sendable {
    /// The pool `runInExecutor` uses when given none: min(32, usable cores + 4) threads, as
    /// Python's default executor, created on first use.
    public static let shared = ThreadPool(threads: min(32, Int(ml_usable_cpu_count()) + 4), name: "ml-pool", detached: true)

    /// The number of worker threads.
    public let threadCount: Int
    // The workers hold the queue, not the pool: the pool's deinit can then stop and join them.
    private let queue = WorkQueue()
    private let workers: LockedValue<[PThread]>

    /// A pool of `threads` workers (at least 1), named "<name>-<i>".
    public convenience init(threads: Int, name: String = "ml-pool") {
        self.init(threads: threads, name: name, detached: false)
    }

    private init(threads: Int, name: String, detached: Bool) {
        threadCount = max(1, threads)
        let queue = self.queue
        workers = LockedValue((0..<threadCount).map { index in
            PThread(name: "\(name)-\(index)", detached: detached) { queue.work() }
        })
    }

    deinit {
        shutdown()
    }

    /// Queues `job`. Any thread. Throws `ThreadPoolError.shutDown` after `shutdown()`.
    func submit(_ job: @escaping @Sendable () -> Void) throws(ThreadPoolError) {
        try queue.submit(job)
    }

    /// Refuses new work, lets the workers run what was queued, and joins them. Idempotent.
    /// Called from one of the pool's own workers it only refuses new work (a thread cannot
    /// join itself).
    public func shutdown() {
        queue.stop()
        let toJoin = workers.withLock { workers in
            defer { workers = [] }
            return workers
        }
        for worker in toJoin where !worker.isCurrent { worker.join() }
    }
}

/// The pool's FIFO of jobs, shared by its workers (guarded by `lock`).
private final class WorkQueue: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var accepting = true

    func submit(_ job: @escaping @Sendable () -> Void) throws(ThreadPoolError) {
        try lock.withLock { () throws(ThreadPoolError) in
            guard accepting else { throw .shutDown }
            jobs.append(job)
            lock.broadcast()
        }
    }

    func stop() {
        lock.withLock {
            accepting = false
            lock.broadcast()
        }
    }

    /// A worker's life: take jobs until the queue is stopped and empty.
    func work() {
        while true {
            let job: (@Sendable () -> Void)? = lock.withLock {
                while head == jobs.count && accepting { _ = lock.wait(deadlineNanoseconds: nil) }
                guard head < jobs.count else { return nil }
                let job = jobs[head]
                head += 1
                if head == jobs.count { jobs.removeAll(keepingCapacity: true); head = 0 }
                return job
            }
            guard let job else { return }
            job()
        }
    }
}

/// Why a thread pool refused work.
public enum ThreadPoolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `shutdown()` was called: the pool takes no more work.
    case shutDown

    public var description: String { "the thread pool is shut down" }
}

extension EventLoop {
    /// Runs a blocking `function` on a worker thread and returns its result when it is done,
    /// without blocking the loop. asyncio: `await loop.run_in_executor(executor, func)`.
    ///
    /// `pool` defaults to `ThreadPool.shared`. The awaiting task resumes on this loop. Cancelling
    /// the awaiting task stops the wait (`CancellationError`) but cannot stop the function: it
    /// runs to its end on its worker, and its result is dropped.
    ///
    /// - Throws: what `function` throws; `ThreadPoolError.shutDown`; `CancellationError`.
    public func runInExecutor<Value: Sendable>(_ pool: ThreadPool? = nil,
                                               _ function: @escaping @Sendable () throws -> Value) async throws -> Value {
        let future = createFuture(of: Value.self)
        try (pool ?? .shared).submit {
            future.settle(with: Result { try function() })
        }
        return try await future.value
    }
}
