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

/// `runInExecutor` against asyncio's `run_in_executor`: cancellation of the awaiting task (a
/// queued job withdrawn, a running one's outcome dropped) and a closed loop. The default
/// executor has its own suite (DefaultExecutorTests).
///
/// Each loop runs under `run` on a thread the test starts (`ExecutorTesting.onNewLoop`), so that
/// nothing blocks a thread of Swift's global pool; the jobs block only the pools' own workers, on
/// gates the test opens; every wait is bounded. The loop's tasks return what they saw, and the
/// test's task checks it (orders and counts are exact: each is fixed by a gate or by the FIFO
/// order of a one-thread pool).
@Suite("runInExecutor: cancellation and closed loops (asyncio parity)", .timeLimit(.minutes(5)))
struct RunInExecutorTests {
    typealias Gate = FutureTesting.Event

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
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> Observed in
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
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> Observed in
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
            try await EventLoop.sleep(0)  // the statistics are published at the end of each iteration
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
            try await EventLoop.sleep(0)
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
        let observed = try await ExecutorTesting.onNewLoop { () async throws -> (Bool, Bool) in
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
}
