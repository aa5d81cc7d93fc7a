import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// "Future exception was never retrieved" / "Task exception was never retrieved": reported once,
/// at deallocation or when the loop closes, unless something read the error.
@Suite("Errors never retrieved", .timeLimit(.minutes(5)))
struct NeverRetrievedTests {
    private static let futureMessage = "Future exception was never retrieved"
    private static let taskMessage = "Task exception was never retrieved"

    private func reports(_ log: ErrorLog, _ message: String) -> [EventLoopErrorContext] {
        log.all.filter { $0.message == message }
    }

    // CPython test_futures: test_tb_logger_exception_unretrieved.
    @Test("a future whose error nobody reads is reported once, when it is deallocated")
    func unretrievedFutureReported() throws {
        let loop = try EventLoop()
        let log = ErrorLog()
        log.install(on: loop)
        do {
            let future = loop.createFuture(of: Int.self)
            try future.setException(TestError(code: 7))
        }
        let found = reports(log, Self.futureMessage)
        #expect(found.count == 1)
        #expect(found.first?.error as? TestError == TestError(code: 7))
        try loop.close()
        #expect(log.count == 1, "the close does not report it again")
    }

    // CPython test_futures: test_tb_logger_abandoned, test_tb_logger_not_called_after_cancel,
    // test_tb_logger_result_unretrieved, test_tb_logger_result_retrieved,
    // test_tb_logger_exception_retrieved, test_tb_logger_exception_result_retrieved.
    @Test("no report for a pending, cancelled or successful future, nor for an error that was read",
          arguments: ["pending", "cancelled", "value", "result()", "exception()", "wait", "done callback reading it"])
    func noReportWhenNothingIsLost(way: String) throws {
        let loop = try EventLoop()
        let log = ErrorLog()
        log.install(on: loop)
        do {
            let future = loop.createFuture(of: Int.self)
            switch way {
            case "pending": break
            case "cancelled": future.cancel()
            case "value": try future.setResult(1)
            case "result()":
                try future.setException(TestError(code: 1))
                #expect(throws: TestError(code: 1)) { try future.result() }
            case "exception()":
                try future.setException(TestError(code: 1))
                #expect(try future.exception() as? TestError == TestError(code: 1))
            case "wait":
                try future.setException(TestError(code: 1))
                #expect(throws: TestError(code: 1)) { try future.wait(timeout: 5) }
            default:
                let read = loop.createFuture(of: Void.self)
                try future.addDoneCallback(on: loop) { done in
                    _ = try? done.exception()
                    try read.setResult(())
                }
                try future.setException(TestError(code: 1))
                _ = try loop.runUntilComplete(read)
            }
        }
        try loop.close()
        #expect(log.all.isEmpty, "\(way): \(log.all)")
    }

    @Test("a done callback that does not read the error, or waitUntilDone, does not retrieve it")
    func registeringOrWaitingIsNotRetrieving() throws {
        let log = ErrorLog()
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            log.install(on: loop)
            let seen = loop.createFuture(of: Void.self)
            do {
                let future = loop.createFuture(of: Int.self)
                try future.addDoneCallback { _ in try seen.setResult(()) }
                try future.setException(TestError(code: 2))
                try await seen.value
            }
            let task = loop.createTask { () async throws -> Int in throw TestError(code: 3) }
            await task.waitUntilDone()
        }
        #expect(reports(log, Self.futureMessage).count == 1)
        #expect(reports(log, Self.taskMessage).map { $0.error as? TestError } == [TestError(code: 3)])
    }

    // CPython test_tasks: a task's unretrieved exception is logged with the task (the
    // "Task exception was never retrieved" branch of Future.__del__).
    @Test("a fire-and-forget task that throws is reported once, with its name and where it was created")
    func fireAndForgetTaskReported() throws {
        let log = ErrorLog()
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            log.install(on: loop)
            loop.createTask(name: "fire-and-forget") { () async throws -> Void in throw TestError(code: 4) }
            for _ in 0..<3 { try await sleep(0) }
        }
        let found = reports(log, Self.taskMessage)
        try #require(found.count == 1, "\(log.all)")
        #expect(found[0].taskName == "fire-and-forget")
        #expect(found[0].location?.hasPrefix("MultiLoopTests/NeverRetrievedTests.swift:") == true, "\(found[0].location ?? "nil")")
        #expect(found[0].error as? TestError == TestError(code: 4))
        #expect(found[0].description.contains("task: fire-and-forget, created at MultiLoopTests/NeverRetrievedTests.swift:"))
    }

    @Test("a failed task still referenced when its loop closes is reported by the close, then not again")
    func reportedAtCloseThenNotAgain() throws {
        let loop = try EventLoop()
        let log = ErrorLog()
        log.install(on: loop)
        var kept: LoopTask<Void>? = loop.createTask(name: "kept") { throw TestError(code: 5) }
        #expect(throws: TestError(code: 5)) { try loop.runUntilComplete(kept!.future) }
        // runUntilComplete read it: retrieved. A second one nobody reads:
        var unread: LoopTask<Void>? = loop.createTask(name: "unread") { throw TestError(code: 6) }
        let unreadTask = unread!
        try loop.runUntilComplete(loop.createTask { await unreadTask.waitUntilDone() }.future)
        #expect(log.all.isEmpty)
        try loop.close()
        let found = reports(log, Self.taskMessage)
        #expect(found.map(\.taskName) == ["unread"])
        kept = nil
        unread = nil
        _ = consume unreadTask
        #expect(log.count == 1, "deallocation after the close's report does not report again")
        _ = (kept, unread)
    }

    // CPython test_tasks: test_gather's children errors are retrieved by gather
    // (test_return_exceptions, test_one_exception).
    @Test("gather retrieves every child's error, with or without returningErrors")
    func gatherRetrievesChildren() throws {
        let log = ErrorLog()
        try run { () async throws -> Void in
            log.install(on: try getRunningLoop())
            await #expect(throws: TestError.self) {
                try await gather([
                    { @Sendable () async throws -> Int in throw TestError(code: 1) },
                    { @Sendable () async throws -> Int in throw TestError(code: 2) },
                ])
            }
            let results = try await gather(returningErrors: [
                { @Sendable () async throws -> Int in throw TestError(code: 3) },
                { @Sendable () async throws -> Int in 4 },
            ])
            #expect(results.count == 2)
            for _ in 0..<3 { try await sleep(0) }
        }
        #expect(log.all.isEmpty, "\(log.all)")
    }

    @Test("awaiting a task that fails retrieves its error")
    func awaitRetrieves() throws {
        let log = ErrorLog()
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            log.install(on: loop)
            let gate = loop.createFuture(of: Void.self)
            let failing = loop.createTask { () async throws -> Int in
                try await gate.value
                throw TestError(code: 8)
            }
            let awaiter = loop.createTask { try await failing.value }
            try await sleep(0)
            gate.setResultIgnoringState()
            await #expect(throws: TestError(code: 8)) { try await awaiter.value }
        }
        #expect(log.all.isEmpty, "\(log.all)")
    }
}

extension Future where Value == Void {
    func setResultIgnoringState() { _ = try? setResult(()) }
}
