import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// What `run { }` does at its end with what `main` left behind (asyncio.runners).
@Suite("run(): leftover tasks at the end", .timeLimit(.minutes(5)))
struct RunShutdownTests {
    // CPython test_runners: test_asyncio_run_cancels_hanging_tasks.
    @Test("leftover tasks are cancelled and waited for before run returns")
    func cancelsLeftovers() throws {
        let leftover = Locked<LoopTask<Void>?>(nil)
        let value = try run { () async throws -> Int in
            let task = try getRunningLoop().createTask { () async throws -> Void in try await sleep(3_600) }
            leftover.withLock { $0 = task }
            return 123
        }
        #expect(value == 123)
        let task = try #require(leftover.value)
        #expect(task.isDone && task.isCancelled)
    }

    // CPython test_runners: test_asyncio_run_reports_hanging_tasks_errors.
    @Test("an error a leftover task ends with is reported once, with the task's name, and not again as never retrieved")
    func reportsLeftoverErrors() throws {
        let log = ErrorLog()
        let leftover = Locked<LoopTask<Void>?>(nil)
        let value = try run { () async throws -> Int in
            let loop = try getRunningLoop()
            log.install(on: loop)
            let task = loop.createTask(name: "leftover") { () async throws -> Void in
                do { try await sleep(3_600) } catch { throw TestError(code: 10) }
            }
            _ = loop.createTask(name: "quiet") { () async throws -> Void in try await sleep(3_600) }
            leftover.withLock { $0 = task }
            try await sleep(0)
            return 123
        }
        #expect(value == 123)
        #expect(leftover.value?.isDone == true)
        leftover.withLock { $0 = nil }
        let reports = log.all
        try #require(reports.count == 1, "\(reports)")
        #expect(reports[0].message == "unhandled error during run() shutdown")
        #expect(reports[0].taskName == "leftover")
        #expect(reports[0].error as? TestError == TestError(code: 10))
    }

    // asyncio.runners.Runner.close: shutdown_default_executor before the loop closes.
    @Test("run returns only after the default executor's functions have finished, even one whose awaiter was cancelled")
    func waitsForExecutorJobs() throws {
        let finished = Locked(false)
        let started = Locked(false)
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            _ = loop.createTask { () async throws -> Void in
                try await loop.runInExecutor {
                    started.withLock { $0 = true }
                    usleep(50_000)
                    finished.withLock { $0 = true }
                }
            }
            while !started.value { try await sleep(0.001) }
            // main returns now: the task awaiting the function is cancelled, the function runs on.
        }
        #expect(finished.value, "run returned while an executor function still ran")
    }

    @Test("tasks that leftover tasks start while being cancelled are cancelled in turn")
    func leftoversOfLeftovers() throws {
        let second = Locked<LoopTask<Void>?>(nil)
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            loop.createTask { () async throws -> Void in
                do { try await sleep(3_600) } catch {
                    let spawned = loop.createTask { () async throws -> Void in try await sleep(3_600) }
                    second.withLock { $0 = spawned }
                    throw error
                }
            }
            try await sleep(0)
        }
        let spawned = try #require(second.value)
        #expect(spawned.isDone && spawned.isCancelled)
    }
}
