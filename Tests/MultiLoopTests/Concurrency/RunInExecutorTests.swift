import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import MultiLoop

/// `runInExecutor` and the loop's default executor, against asyncio's `run_in_executor`,
/// `set_default_executor`, `shutdown_default_executor` and `close`.
///
/// Each loop runs under `run` on a thread the test starts (`onNewLoop`), so that nothing blocks
/// a thread of Swift's global pool; the jobs block only the pools' own workers, on gates the
/// test opens; every wait is bounded. The loop's tasks return what they saw, and the test's task
/// checks it (orders and counts are exact: each is fixed by a gate or by the FIFO order of a
/// one-thread pool).
@Suite("runInExecutor and the default executor (asyncio parity)", .timeLimit(.minutes(5)))
struct RunInExecutorTests {
    typealias Gate = FutureTesting.Event

    /// Runs `main` with `run` (a new loop) on a thread of its own, and returns its result.
    static func onNewLoop<T: Sendable>(_ main: @escaping @Sendable () async throws -> T) async throws -> T {
        try await offThePool { Result { try run(main) } }.get()
    }

    /// What `body` threw, or nil.
    static func refusal(_ body: () async throws -> Void) async -> (any Error)? {
        do { try await body(); return nil } catch { return error }
    }

    /// Polls, in a task of a loop, until `condition` holds (bounded: a safety net against a hang,
    /// never a measurement).
    static func eventually(_ what: String, _ condition: () -> Bool) async throws {
        var waited = 0.0
        while !condition() {
            guard waited < FutureTesting.generousSeconds else { throw FutureTesting.DidNotHappen(what: what) }
            try await MultiLoop.sleep(0.001)
            waited += 0.001
        }
    }

    /// The calling thread's name (Linux: /proc/thread-self/comm, without its newline).
    static func threadName() -> String {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        guard fd >= 0 else { return "?" }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = read(fd, &bytes, bytes.count)
        guard count > 0 else { return "?" }
        return String(decoding: bytes[0..<count], as: UTF8.self).trimmingSuffixNewline()
    }

    // MARK: Cancellation

    // CPython Lib/test/test_asyncio/test_events.py: EventLoopTestsMixin.test_run_in_executor_cancel
    // (a cancelled run_in_executor delivers nothing afterwards), with Lib/asyncio/futures.py
    // _chain_future (cancelling the asyncio future cancels the concurrent one) and
    // Lib/concurrent/futures/thread.py _WorkItem.run (a cancelled work item never runs).
    @Test("cancelling the awaiter of a queued job withdraws it: CancellationError at once, the function never runs")
    func cancelWhileQueued() async throws {
        struct Observed: Sendable {
            var queuedBefore = -1, queuedAfter = -1, first = 0, third = 0
            var secondCancelled = false, secondGotCancellationError = false
        }
        let pool = ThreadPool(threads: 1, name: "t-queued")
        let gate = Gate()
        let log = Locked<[String]>([])
        let secondRuns = Locked(0)
        let observed = try await Self.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            let firstStarted = loop.createFuture(of: Void.self)
            let first = loop.createTask(eager: true) {
                try await loop.runInExecutor(pool) { () throws -> Int in
                    log.withLock { $0.append("first started") }
                    try firstStarted.setResult(())
                    try gate.require("the test to release the first job")
                    log.withLock { $0.append("first finished") }
                    return 1
                }
            }
            try await firstStarted.value
            let secondError = LoopConfined<(any Error)?>(nil)
            // Eager: the task runs until it suspends in runInExecutor, so its job is queued (behind
            // the first, on the pool's only thread) when createTask returns.
            let second = loop.createTask(eager: true) { () async throws -> Int in
                do {
                    return try await loop.runInExecutor(pool) { () -> Int in
                        secondRuns.withLock { $0 += 1 }
                        return 2
                    }
                } catch {
                    secondError.value = error
                    throw error
                }
            }
            observed.queuedBefore = pool.queuedJobs
            second.cancel()
            await second.waitUntilDone()
            log.withLock { $0.append("second's awaiter cancelled") }
            observed.queuedAfter = pool.queuedJobs
            observed.secondCancelled = second.isCancelled
            observed.secondGotCancellationError = secondError.value is CancellationError
            gate.signal()
            observed.first = try await first.value
            // FIFO on one thread: this runs after whatever was queued before it, so the pool has
            // drained the second job, had it still been there.
            observed.third = try await loop.runInExecutor(pool) { () -> Int in
                log.withLock { $0.append("third ran") }
                return 3
            }
            return observed
        }
        await offThePool { pool.shutdown() }
        #expect(log.value == ["first started", "second's awaiter cancelled", "first finished", "third ran"])
        #expect(secondRuns.value == 0)
        #expect(observed.queuedBefore == 1)
        #expect(observed.queuedAfter == 0)
        #expect(observed.secondCancelled)
        #expect(observed.secondGotCancellationError)
        #expect(observed.first == 1)
        #expect(observed.third == 3)
        #expect(pool.startedThreads == 1)
    }

    // CPython Lib/test/test_asyncio/test_events.py: EventLoopTestsMixin.test_run_in_executor_cancel
    // (nothing is delivered after the cancel: call_soon and call_soon_threadsafe patched to
    // record a call) and Lib/asyncio/futures.py _chain_future._set_state (the result of a
    // concurrent future whose asyncio future was cancelled is not copied).
    @Test("cancelling the awaiter of a running job: CancellationError at once; the function runs to its end and its result or error is dropped",
          arguments: [false, true])
    func cancelWhileRunning(throwing: Bool) async throws {
        struct Observed: Sendable {
            var cancelled = false, gotCancellationError = false, reports = -1
            var workerHandOvers: UInt64 = 0
        }
        let pool = ThreadPool(threads: 1, name: "t-running")
        let gate = Gate()
        let log = Locked<[String]>([])
        let observed = try await Self.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            let errors = ErrorLog()
            errors.install(on: loop)
            var observed = Observed()
            let started = loop.createFuture(of: Void.self)
            let awaiterError = LoopConfined<(any Error)?>(nil)
            let task = loop.createTask(eager: true) { () async throws -> Int in
                do {
                    return try await loop.runInExecutor(pool) { () throws -> Int in
                        log.withLock { $0.append("job started") }
                        try started.setResult(())
                        try gate.require("the test to release the job")
                        log.withLock { $0.append("job finished") }
                        if throwing { throw TestError(code: 7) }
                        return 1
                    }
                } catch {
                    awaiterError.value = error
                    throw error
                }
            }
            try await started.value
            task.cancel()
            await task.waitUntilDone()
            log.withLock { $0.append("awaiter cancelled") }
            observed.cancelled = task.isCancelled
            observed.gotCancellationError = awaiterError.value is CancellationError
            try await MultiLoop.sleep(0)  // the statistics are published at the end of each iteration
            let before = loop.statistics.inboxPushes
            gate.signal()
            // Runs on the pool's only thread once the cancelled job has ended, and waits until
            // this task has suspended (a callback of the next iteration opens its gate): a
            // continuation resumed before its task finished suspending is not handed over at all.
            let nextGate = Gate()
            try loop.callSoon { nextGate.signal() }
            try await loop.runInExecutor(pool) { () throws in
                try nextGate.require("the loop's next iteration")
                log.withLock { $0.append("next job ran") }
            }
            try await MultiLoop.sleep(0)
            // The worker is the only other thread that hands the loop anything: this task's
            // resumption by the next job, and nothing for the dropped outcome.
            observed.workerHandOvers = loop.statistics.inboxPushes - before
            observed.reports = errors.count
            return observed
        }
        await offThePool { pool.shutdown() }
        #expect(log.value == ["job started", "awaiter cancelled", "job finished", "next job ran"])
        #expect(observed.cancelled)
        #expect(observed.gotCancellationError)
        #expect(observed.workerHandOvers == 1,
                "the worker handed the loop the next job's resumption and nothing for the dropped outcome")
        #expect(observed.reports == 0, "a dropped outcome is not reported")
    }

    // CPython Lib/asyncio/tasks.py Task.__step (a task cancelled before it awaits gets
    // CancelledError at its next await); Lib/asyncio/futures.py _chain_future (the concurrent
    // future is cancelled with it, so the function never runs).
    @Test("a task already cancelled gets CancellationError from runInExecutor, and nothing is queued")
    func alreadyCancelled() async throws {
        let pool = ThreadPool(threads: 1, name: "t-precancel")
        let ran = Locked(0)
        let observed = try await Self.onNewLoop { () async throws -> (Bool, Bool) in
            let loop = try getRunningLoop()
            let caught = LoopConfined<(any Error)?>(nil)
            let task = loop.createTask(eager: true) { () async throws -> Int in
                withUnsafeCurrentTask { $0?.cancel() }
                do {
                    return try await loop.runInExecutor(pool) { () -> Int in
                        ran.withLock { $0 += 1 }
                        return 1
                    }
                } catch {
                    caught.value = error
                    throw error
                }
            }
            await task.waitUntilDone()
            return (task.isCancelled, caught.value is CancellationError)
        }
        #expect(observed.0 && observed.1, "cancelled, with CancellationError")
        #expect(ran.value == 0)
        #expect(pool.startedThreads == 0 && pool.queuedJobs == 0, "a queued job would have started the pool's first thread")
    }

    // MARK: Closed loop

    // CPython Lib/test/test_asyncio/test_events.py: EventLoopTestsMixin.test_close (run_in_executor
    // on a closed loop raises RuntimeError: base_events.py _check_closed, before anything else).
    @Test("runInExecutor on a closed loop throws .closed without running or queuing anything, with a pool or with none")
    func closedLoop() async throws {
        let loop = try EventLoop()
        try loop.close()
        let pool = ThreadPool(threads: 1, name: "t-closed")
        let ran = Locked(0)
        await #expect(throws: EventLoopError.closed) {
            try await loop.runInExecutor(pool) { ran.withLock { $0 += 1 } }
        }
        await #expect(throws: EventLoopError.closed) {
            try await loop.runInExecutor { ran.withLock { $0 += 1 } }
        }
        #expect(ran.value == 0)
        #expect(pool.startedThreads == 0 && pool.queuedJobs == 0, "a queued job would have started the pool's first thread")
        #expect(loop.defaultExecutorPool == nil, "no default executor was created")
        #expect(throws: EventLoopError.closed) { try loop.setDefaultExecutor(pool) }
        #expect(try await loop.shutdownDefaultExecutor() == .nothingToJoin)
    }

    // MARK: The default executor

    // CPython Lib/test/test_asyncio/test_events.py: EventLoopTestsMixin.test_run_in_executor (the
    // function runs on another thread) and Lib/asyncio/base_events.py run_in_executor (the
    // default ThreadPoolExecutor is created on first use); Lib/test/test_concurrent_futures/
    // test_thread_pool.py test_idle_thread_reuse.
    @Test("the default executor is created by the first runInExecutor with no pool and starts one thread for calls made in turn; shutdownDefaultExecutor joins it")
    func lazyDefaultExecutor() async throws {
        struct Observed: Sendable {
            var noneBefore = false, names: [String] = [], offTheLoop = true, sameThread = true
            var started = -1, maximum = -1, loopID: UInt64 = 0, shutdown: DefaultExecutorShutdown?, liveAfter = -1
        }
        let observed = try await Self.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            observed.loopID = loop.id
            observed.noneBefore = loop.defaultExecutorPool == nil
            let loopThread = pthread_self()
            for _ in 0..<3 {
                let (name, onLoopThread) = try await loop.runInExecutor {
                    (Self.threadName(), pthread_equal(pthread_self(), loopThread) != 0)
                }
                observed.names.append(name)
                observed.offTheLoop = observed.offTheLoop && !onLoopThread
                guard let pool = loop.defaultExecutorPool else { throw FutureTesting.DidNotHappen(what: "a default executor") }
                // Submit the next call once the worker waits again: then the count is exact.
                try await Self.eventually("the worker to wait for the next job") { pool.idleThreads == 1 }
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
        let observed = try await Self.onNewLoop { () async throws -> (String, Bool) in
            let loop = try getRunningLoop()
            try loop.setDefaultExecutor(pool)
            let name = try await loop.runInExecutor { Self.threadName() }
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
        let observed = try await Self.onNewLoop { () async throws -> (ownGone: Bool, ownLive: Int, mineAccepts: Bool, current: Bool) in
            let loop = try getRunningLoop()
            _ = try await loop.runInExecutor { 0 }
            // The loop's own executor, watched through its queue (which its worker holds) and a
            // weak reference (nothing but the loop holds the pool).
            weak let own = loop.defaultExecutorPool
            guard let queue = own?.queue else { throw FutureTesting.DidNotHappen(what: "a default executor") }
            try loop.setDefaultExecutor(mine)
            let ownGone = own == nil
            try await Self.eventually("the replaced executor's worker to end") { queue.counts.live == 0 }
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
        let observed = try await Self.onNewLoop { () async throws -> (Int, DefaultExecutorShutdown) in
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
        let observed = try await Self.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            try loop.setDefaultExecutor(pool)
            let started = loop.createFuture(of: Void.self)
            let running = loop.createTask(eager: true) {
                try await loop.runInExecutor { () throws -> Int in
                    log.withLock { $0.append("running job started") }
                    try started.setResult(())
                    try gate.require("the test to release the running job")
                    log.withLock { $0.append("running job finished") }
                    return 1
                }
            }
            try await started.value
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
            observed.refusedMeanwhile = await Self.refusal { _ = try await loop.runInExecutor { 0 } }
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
            observed.refusedAfter = await Self.refusal { _ = try await loop.runInExecutor { 0 } }
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
        #expect(observed.values == [1, 2])
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
        let observed = try await Self.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            let errors = ErrorLog()
            errors.install(on: loop)
            var observed = Observed()
            try loop.setDefaultExecutor(pool)
            let started = loop.createFuture(of: Void.self)
            let running = loop.createTask(eager: true) {
                try await loop.runInExecutor { () throws -> Int in
                    try started.setResult(())
                    try gate.require("the test to release the job")
                    return 1
                }
            }
            try await started.value
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
        let observed = try await Self.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            try loop.setDefaultExecutor(pool)
            let started = loop.createFuture(of: Void.self)
            let running = loop.createTask(eager: true) {
                try await loop.runInExecutor { () throws -> Int in
                    try started.setResult(())
                    try gate.require("the test to release the job")
                    return 1
                }
            }
            try await started.value
            let caught = LoopConfined<(any Error)?>(nil)
            let shutdown = loop.createTask(eager: true) { () async throws -> DefaultExecutorShutdown in
                do { return try await loop.shutdownDefaultExecutor() } catch { caught.value = error; throw error }
            }
            shutdown.cancel()
            await shutdown.waitUntilDone()
            observed.cancelled = shutdown.isCancelled
            observed.gotCancellationError = caught.value is CancellationError
            observed.refused = await Self.refusal { _ = try await loop.runInExecutor { 0 } }
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
        let observed = try await Self.onNewLoop { () async throws -> Observed in
            let loop = try getRunningLoop()
            var observed = Observed()
            observed.first = try await loop.shutdownDefaultExecutor()
            observed.second = try await loop.shutdownDefaultExecutor(timeout: 5)
            observed.refused = await Self.refusal { _ = try await loop.runInExecutor { 0 } }
                as? EventLoopError == .defaultExecutorShutDown
            observed.noneCreated = loop.defaultExecutorPool == nil
            observed.explicit = try await loop.runInExecutor(pool) { 5 }
            do throws(EventLoopError) { try loop.setDefaultExecutor(pool) } catch { observed.setRefused = error == .defaultExecutorShutDown }
            if case .invalidDelay(let value)? = await Self.refusal({ _ = try await loop.shutdownDefaultExecutor(timeout: .nan) })
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
    @Test("close() lets the default executor go without waiting: the running job and the queued one still run, and their tasks get their results off the loop")
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
                observed.values = [try running.future.wait(timeout: FutureTesting.generousSeconds),
                                   try queued.future.wait(timeout: FutureTesting.generousSeconds)]
                pool.shutdown()  // waits for the workers close() let go
                observed.liveAfter = pool.liveThreads
                observed.log = log.value
                observed.reports = errors.all.map(\.message)
                return observed
            }
        }.get()
        #expect(observed.queuedAtClose == 1)
        #expect(observed.log == ["running job started", "close returned", "queued job ran"])
        #expect(observed.values == [1, 2])
        #expect(observed.poolRefused)
        #expect(observed.closedRefused)
        #expect(observed.liveAfter == 0)
        // Each task resumed after its loop closed, on the global executor (docs/asyncio-mapping.md).
        #expect(observed.reports == Array(repeating: "a job was enqueued on a closed event loop; it runs on the global executor instead",
                                          count: 2))
    }
}

private extension String {
    func trimmingSuffixNewline() -> String { hasSuffix("\n") ? String(dropLast()) : self }
}
