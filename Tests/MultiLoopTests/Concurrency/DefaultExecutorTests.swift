import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// A loop's default executor against asyncio's: created by the first `runInExecutor` with no
/// pool, `set_default_executor`, `shutdown_default_executor` (with and without a timeout,
/// cancelled, twice, with none created) and `close`. Same conditions as RunInExecutorTests:
/// loops on threads the test starts, jobs blocked on gates the test opens, bounded waits, exact
/// orders and counts.
@Suite("runInExecutor: the default executor (asyncio parity)", .timeLimit(.minutes(5)))
struct DefaultExecutorTests {
    typealias Gate = FutureTesting.Event

    // CPython Lib/test/test_asyncio/test_events.py: EventLoopTestsMixin.test_run_in_executor (the
    // function runs on another thread) and Lib/asyncio/base_events.py run_in_executor (the
    // default ThreadPoolExecutor is created on first use); Lib/test/test_concurrent_futures/
    // test_thread_pool.py test_idle_thread_reuse.
    @Test("the default executor is created by the first runInExecutor with no pool and starts one thread for calls made in turn; shutdownDefaultExecutor joins it")
    func lazyDefaultExecutor() async throws {
        struct Observed: Sendable {
            var noneBefore = false, names: [String] = [], offTheLoop = true
            var started = -1, maximum = -1, loopID: UInt64 = 0, shutdown: DefaultExecutorShutdown?, liveAfter = -1
        }
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            observed.loopID = loop.id
            observed.noneBefore = loop.defaultExecutorPool == nil
            let loopThread = pthread_self()
            for _ in 0..<3 {
                let (name, onLoopThread) = try await loop.runInExecutor {
                    (ExecutorTesting.threadName(), pthread_equal(pthread_self(), loopThread) != 0)
                }
                observed.names.append(name)
                observed.offTheLoop = observed.offTheLoop && !onLoopThread
                guard let pool = loop.defaultExecutorPool else { throw FutureTesting.DidNotHappen(what: "a default executor") }
                // Submit the next call once the worker waits again: then the count is exact.
                try await FutureTesting.eventually("the worker to wait for the next job") { pool.idleThreads == 1 }
            }
            let pool = loop.defaultExecutorPool
            observed.started = pool?.startedThreads ?? -1
            observed.maximum = pool?.threadCount ?? -1
            observed.shutdown = try await loop.shutdownDefaultExecutor()
            observed.liveAfter = pool?.liveThreads ?? -1
            return observed
        }
        #expect(observed.noneBefore)
        #expect(observed.offTheLoop)
        #expect(observed.names == Array(repeating: "ml-ex\(observed.loopID)-0", count: 3))
        #expect(observed.started == 1)
        #expect(observed.maximum == ThreadPool.defaultThreadCount)
        #expect(observed.shutdown == .joined)
        #expect(observed.liveAfter == 0)
    }

    // CPython Lib/test/test_asyncio/test_base_events.py: BaseEventLoopTests.test_set_default_executor,
    // and Lib/asyncio/base_events.py close() (the default executor, set or created, is shut
    // down with wait=False).
    @Test("setDefaultExecutor: runInExecutor with no pool runs on the pool set; close() shuts that pool down without waiting")
    func setDefaultExecutor() async throws {
        let pool = ThreadPool(threads: 2, name: "t-set")
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> (String, Bool) in
            let loop = try getRunningLoop()
            try loop.setDefaultExecutor(pool)
            let name = try await loop.runInExecutor { ExecutorTesting.threadName() }
            return (name, loop.defaultExecutorPool === pool)
        }
        // `run` closed its loop, which shut the pool down.
        let refusedAfterClose = (try? pool.enqueue {}) == nil
        await offThePool { pool.shutdown() }
        #expect(observed.0 == "t-set-0")
        #expect(observed.1)
        #expect(refusedAfterClose)
        #expect(pool.liveThreads == 0)
    }

    // CPython Lib/asyncio/base_events.py set_default_executor (the previous executor is dropped:
    // a ThreadPoolExecutor nobody references any more lets its workers end, nobody waits).
    @Test("setDefaultExecutor replacing the loop's own default executor lets it go: its worker ends on its own; a pool set earlier is left running")
    func replacingTheDefaultExecutor() async throws {
        let mine = ThreadPool(threads: 1, name: "t-mine")
        let other = ThreadPool(threads: 1, name: "t-other")
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> (ownGone: Bool, ownLive: Int, mineAccepts: Bool, current: Bool) in
            let loop = try getRunningLoop()
            _ = try await loop.runInExecutor { 0 }
            // The loop's own executor, watched through its queue (which its worker holds) and a
            // weak reference (nothing but the loop holds the pool).
            weak let own = loop.defaultExecutorPool
            guard let queue = own?.queue else { throw FutureTesting.DidNotHappen(what: "a default executor") }
            try loop.setDefaultExecutor(mine)
            let ownGone = own == nil
            try await FutureTesting.eventually("the replaced executor's worker to end") { queue.counts.live == 0 }
            try loop.setDefaultExecutor(other)
            let mineAccepts = (try? mine.enqueue {}) != nil
            return (ownGone, queue.counts.live, mineAccepts, loop.defaultExecutorPool === other)
        }
        await offThePool {
            mine.shutdown()
            other.shutdown()
        }
        #expect(observed.ownGone)
        #expect(observed.ownLive == 0)
        #expect(observed.mineAccepts)
        #expect(observed.current)
    }

    // No CPython counterpart (Python has no process-wide pool): ThreadPool.shared as a default
    // executor survives its loop's shutdownDefaultExecutor and close.
    @Test("a loop whose default executor is ThreadPool.shared leaves it running when it shuts its default executor down and closes")
    func sharedPoolAsDefaultExecutor() async throws {
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> (Int, DefaultExecutorShutdown) in
            let loop = try getRunningLoop()
            try loop.setDefaultExecutor(.shared)
            let value = try await loop.runInExecutor { 41 + 1 }
            return (value, try await loop.shutdownDefaultExecutor())
        }
        let stillRuns = await offThePool { () -> Bool in
            let done = Gate()
            guard (try? ThreadPool.shared.enqueue { done.signal() }) != nil else { return false }
            return done.wait()
        }
        #expect(observed.0 == 42)
        #expect(observed.1 == .joined)
        #expect(stillRuns)
    }

    // MARK: shutdownDefaultExecutor

    // CPython Lib/asyncio/base_events.py shutdown_default_executor and _do_shutdown (the executor
    // is joined on a thread of its own while the loop runs) and _check_default_executor (default
    // executor work is refused from then on); asyncio.run awaits it before it closes the loop.
    @Test("shutdownDefaultExecutor waits for the running and the queued job and joins the threads, while the loop keeps running")
    func shutdownWaitsWithoutBlockingTheLoop() async throws {
        struct Observed: Sendable {
            var outcome: DefaultExecutorShutdown?, again: DefaultExecutorShutdown?, values: [Int] = []
            var explicit = 0, refusedMeanwhile = false, refusedAfter = false, waitingMeanwhile = false
            var liveAfter = -1, started = -1
        }
        let pool = ThreadPool(threads: 1, name: "t-join")
        let other = ThreadPool(threads: 1, name: "t-explicit")
        let gate = Gate()
        let log = Locked<[String]>([])
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            try loop.setDefaultExecutor(pool)
            let running = try await ExecutorTesting.startHeldJob(on: loop, until: gate, log: log)
            let queued = loop.createTask(eager: true) {
                try await loop.runInExecutor { () -> Int in
                    log.withLock { $0.append("queued job ran") }
                    return 2
                }
            }
            let shutdown = loop.createTask(eager: true) { () async throws -> DefaultExecutorShutdown in
                let outcome = try await loop.shutdownDefaultExecutor()
                log.withLock { $0.append("shutdownDefaultExecutor returned") }
                return outcome
            }
            // The loop runs on while the join waits: this task does, and so does a job of another pool.
            observed.refusedMeanwhile = await ExecutorTesting.refusal { _ = try await loop.runInExecutor { 0 } }
                as? EventLoopError == .defaultExecutorShutDown
            observed.explicit = try await loop.runInExecutor(other) { 5 }
            observed.waitingMeanwhile = !shutdown.isDone
            log.withLock { $0.append("the loop ran while the join waited") }
            gate.signal()
            observed.outcome = try await shutdown.value
            observed.values = [try await running.value, try await queued.value]
            observed.liveAfter = pool.liveThreads
            observed.started = pool.startedThreads
            observed.again = try await loop.shutdownDefaultExecutor()
            observed.refusedAfter = await ExecutorTesting.refusal { _ = try await loop.runInExecutor { 0 } }
                as? EventLoopError == .defaultExecutorShutDown
            return observed
        }
        await offThePool {
            other.shutdown()
            pool.shutdown()
        }
        #expect(log.value == ["running job started", "the loop ran while the join waited", "running job finished",
                              "queued job ran", "shutdownDefaultExecutor returned"])
        #expect(observed.outcome == .joined)
        #expect(observed.again == .joined)
        #expect(observed.values.allSatisfy { [1, 2].contains($0) })
        #expect(observed.explicit == 5)
        #expect(observed.refusedMeanwhile)
        #expect(observed.refusedAfter)
        #expect(observed.waitingMeanwhile)
        #expect(observed.liveAfter == 0, "its threads were joined when it returned")
        #expect(observed.started == 1)
    }

    // CPython Lib/test/test_asyncio/test_base_events.py:
    // BaseEventLoopTests.test_shutdown_default_executor_timeout ("The executor did not finishing
    // joining its threads within N seconds", a RuntimeWarning).
    @Test("shutdownDefaultExecutor(timeout:) that passes reports to the exception handler and returns .timedOut; the join goes on and a later call waits for it")
    func shutdownTimeout() async throws {
        struct Observed: Sendable {
            var first: DefaultExecutorShutdown?, second: DefaultExecutorShutdown?, third: DefaultExecutorShutdown?
            var reports: [String] = [], errors: [TimeoutError?] = [], runningDoneAtTimeout = true, reportsAtEnd = -1
            var value = 0, liveAfter = -1
        }
        let pool = ThreadPool(threads: 1, name: "t-timeout")
        let gate = Gate()
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            let errors = ErrorLog()
            errors.install(on: loop)
            var observed = Observed()
            try loop.setDefaultExecutor(pool)
            let running = try await ExecutorTesting.startHeldJob(on: loop, until: gate)
            // The job cannot end before the gate opens, which is after this call returns.
            observed.first = try await loop.shutdownDefaultExecutor(timeout: 0.01)
            observed.reports = errors.all.map(\.message)
            observed.errors = errors.all.map { $0.error as? TimeoutError }
            observed.runningDoneAtTimeout = running.isDone
            gate.signal()
            observed.second = try await loop.shutdownDefaultExecutor()
            observed.third = try await loop.shutdownDefaultExecutor(timeout: 0.01)
            observed.value = try await running.value
            observed.reportsAtEnd = errors.count
            observed.liveAfter = pool.liveThreads
            return observed
        }
        await offThePool { pool.shutdown() }
        #expect(observed.first == .timedOut)
        #expect(observed.reports == ["the default executor did not finish joining its threads within 0.01 seconds"])
        #expect(observed.errors == [TimeoutError(seconds: 0.01)])
        #expect(!observed.runningDoneAtTimeout)
        #expect(observed.second == .joined)
        #expect(observed.third == .joined)
        #expect(observed.value == 1)
        #expect(observed.reportsAtEnd == 1)
        #expect(observed.liveAfter == 0)
    }

    // CPython Lib/asyncio/base_events.py shutdown_default_executor: a cancelled await propagates
    // CancelledError; the shutdown flag stays set and the joining thread goes on (_do_shutdown
    // then finds its future cancelled).
    @Test("cancelling a task in shutdownDefaultExecutor ends its wait with CancellationError; the executor stays shut down and a later call waits for the join")
    func cancelledShutdown() async throws {
        struct Observed: Sendable {
            var cancelled = false, gotCancellationError = false, refused = false, later: DefaultExecutorShutdown?, value = 0
        }
        let pool = ThreadPool(threads: 1, name: "t-cancelsd")
        let gate = Gate()
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            try loop.setDefaultExecutor(pool)
            let running = try await ExecutorTesting.startHeldJob(on: loop, until: gate)
            let caught = LoopConfined<(any Error)?>(nil)
            let shutdown = loop.createTask(eager: true) { () async throws -> DefaultExecutorShutdown in
                do { return try await loop.shutdownDefaultExecutor() } catch { caught.value = error; throw error }
            }
            shutdown.cancel()
            await shutdown.waitUntilDone()
            observed.cancelled = shutdown.isCancelled
            observed.gotCancellationError = caught.value is CancellationError
            observed.refused = await ExecutorTesting.refusal { _ = try await loop.runInExecutor { 0 } }
                as? EventLoopError == .defaultExecutorShutDown
            gate.signal()
            observed.later = try await loop.shutdownDefaultExecutor()
            observed.value = try await running.value
            return observed
        }
        await offThePool { pool.shutdown() }
        #expect(observed.cancelled)
        #expect(observed.gotCancellationError)
        #expect(observed.refused)
        #expect(observed.later == .joined)
        #expect(observed.value == 1)
    }

    // CPython Lib/asyncio/base_events.py shutdown_default_executor ("if self._default_executor is
    // None: return", the flag set all the same) and _check_default_executor ("Executor shutdown
    // has been called"); Lib/asyncio/runners.py Runner.close awaits shutdown_default_executor in
    // the loop, as `run` is to.
    @Test("shutdownDefaultExecutor with no default executor, twice, from a task during run: returns at once, and default-executor work is refused from then on")
    func shutdownWithNoDefaultExecutor() async throws {
        struct Observed: Sendable {
            var first: DefaultExecutorShutdown?, second: DefaultExecutorShutdown?, refused = false, noneCreated = false
            var explicit = 0, setRefused = false, nanRefused = false
        }
        let pool = ThreadPool(threads: 1, name: "t-nodefault")
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            observed.first = try await loop.shutdownDefaultExecutor()
            observed.second = try await loop.shutdownDefaultExecutor(timeout: 5)
            observed.refused = await ExecutorTesting.refusal { _ = try await loop.runInExecutor { 0 } }
                as? EventLoopError == .defaultExecutorShutDown
            observed.noneCreated = loop.defaultExecutorPool == nil
            observed.explicit = try await loop.runInExecutor(pool) { 5 }
            do throws(EventLoopError) { try loop.setDefaultExecutor(pool) } catch { observed.setRefused = error == .defaultExecutorShutDown }
            if case .invalidDelay(let value)? = await ExecutorTesting.refusal({ _ = try await loop.shutdownDefaultExecutor(timeout: .nan) })
                as? EventLoopError {
                observed.nanRefused = value.isNaN
            }
            return observed
        }
        await offThePool { pool.shutdown() }
        #expect(observed.first == .nothingToJoin)
        #expect(observed.second == .nothingToJoin)
        #expect(observed.refused)
        #expect(observed.noneCreated)
        #expect(observed.explicit == 5)
        #expect(observed.setRefused)
        #expect(observed.nanRefused)
    }

    // MARK: close

    // CPython Lib/asyncio/base_events.py BaseEventLoop.close ("shuts down the executor, but does
    // not wait for the executor to finish": executor.shutdown(wait=False)).
    @Test("close() lets the default executor go without waiting: the running job and the queued one still run")
    func closeDoesNotWait() async throws {
        struct Observed: Sendable {
            var log: [String] = [], values: [Int] = [], queuedAtClose = -1, poolRefused = false, closedRefused = false
            var liveAfter = -1, reports: [String] = []
        }
        let observed = try await offThePool { () -> Result<Observed, any Error> in
            Result {
                var observed = Observed()
                let loop = try EventLoop()
                let errors = ErrorLog()
                errors.install(on: loop)
                let pool = ThreadPool(threads: 1, name: "t-close")
                try loop.setDefaultExecutor(pool)
                let gate = Gate()
                let log = Locked<[String]>([])
                let started = loop.createFuture(of: Void.self)
                let running = loop.createTask {
                    try await loop.runInExecutor { () throws -> Int in
                        log.withLock { $0.append("running job started") }
                        try started.setResult(())
                        try gate.require("the test to release the running job")
                        return 1
                    }
                }
                let queued = loop.createTask {
                    try await loop.runInExecutor { () -> Int in
                        log.withLock { $0.append("queued job ran") }
                        return 2
                    }
                }
                try FutureTesting.armWatchdog(loop)
                // Both tasks start in the loop's first iteration and queue their jobs; the first
                // job's start completes `started`.
                try loop.runUntilComplete(started)
                observed.queuedAtClose = pool.queuedJobs
                try loop.close()
                log.withLock { $0.append("close returned") }
                observed.poolRefused = (try? pool.enqueue {}) == nil
                observed.closedRefused = loop.defaultExecutorPool == nil
                gate.signal()
                pool.shutdown()  // waits for the workers close() let go: both jobs have run
                // Their tasks resume on Swift's global executor (difference 16), which the tests
                // that block its two threads may hold for a long while under ThreadSanitizer: look,
                // without waiting for them.
                observed.values = [running, queued].compactMap { try? $0.result() }
                _ = (running, queued)
                observed.liveAfter = pool.liveThreads
                observed.log = log.value
                observed.reports = errors.all.map(\.message)
                return observed
            }
        }.get()
        #expect(observed.queuedAtClose == 1)
        #expect(observed.log == ["running job started", "close returned", "queued job ran"])
        #expect(observed.values.allSatisfy { [1, 2].contains($0) })
        #expect(observed.poolRefused)
        #expect(observed.closedRefused)
        #expect(observed.liveAfter == 0)
        // Each task resumed after its loop closed, on the global executor (docs/asyncio-mapping.md).
        #expect(observed.reports == Array(repeating: "a job was enqueued on a closed event loop; it runs on the global executor instead",
                                          count: 2))
    }
}
