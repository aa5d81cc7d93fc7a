import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// asyncio 3.11+ task cancellation: messages, one cancellation path through the future,
/// cancelling() / uncancel(), and a task cancelled before it starts.
@Suite("Task cancellation (cancel(msg), cancelling, uncancel)", .timeLimit(.minutes(5)))
struct TaskCancellationTests {
    // CPython test_tasks: test_cancel_with_message_then_future_result,
    // test_cancel_with_message_then_future_exception.
    @Test("the message given to cancel(message:) is carried by the CancelledError of the task")
    func cancelMessageReachesTheAwaiter() throws {
        let seenInBody = Locked<String?>(nil)
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let task = loop.createTask { () async throws -> Void in
                do {
                    try await sleep(3_600)
                } catch let error as CancellationError {
                    seenInBody.withLock { $0 = error.message }
                    throw error
                }
            }
            try await sleep(0)
            #expect(task.cancel(message: "my message"))
            await #expect(throws: CancelledError(message: "my message")) { try await task.value }
            #expect(throws: CancelledError(message: "my message")) { try task.result() }
            #expect(task.cancelMessage == "my message")
        }
        #expect(seenInBody.value == "my message", "the body reads the message from its CancellationError")
    }

    // CPython test_tasks: test_cancel_with_message_before_starting_task.
    @Test("a task cancelled before its body started never runs the body")
    func cancelledBeforeStart() throws {
        let ran = Locked(false)
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let task = loop.createTask { ran.withLock { $0 = true } }
            #expect(task.cancel(message: "before start"))
            #expect(!task.isDone, "done only once the body's task has ended")
            await task.waitUntilDone()
            #expect(task.isCancelled)
            #expect(throws: CancelledError(message: "before start")) { try task.result() }
        }
        #expect(!ran.value)
    }

    @Test("task.future.cancel() cancels the body; the task is done only once the body has finished")
    func futureCancelIsTaskCancel() throws {
        let events = Locked<[String]>([])
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let task = loop.createTask { () async throws -> Int in
                do {
                    try await sleep(3_600)
                } catch {
                    events.withLock { $0.append("body saw \(type(of: error))") }
                    await Task.yieldWithoutCancellation(loop)
                    events.withLock { $0.append("cleanup done") }
                    throw error
                }
                return 1
            }
            try await sleep(0)
            let future: Future<Int> = task.future
            #expect(future.cancel(message: "through the future"))
            events.withLock { $0.append("cancel returned, done=\(task.isDone)") }
            await task.waitUntilDone()
            events.withLock { $0.append("done, cancelled=\(task.isCancelled)") }
            #expect(throws: CancelledError(message: "through the future")) { try future.result() }
        }
        #expect(events.value == ["cancel returned, done=false", "body saw CancellationError", "cleanup done",
                                 "done, cancelled=true"])
    }

    // CPython test_tasks: test_cancel_task_catching, test_cancel_yield.
    @Test("a body that swallows the cancellation and returns makes the task succeed, not cancelled")
    func swallowedCancelSucceeds() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let task = loop.createTask { () async throws -> Int in
                do { try await sleep(3_600) } catch { return 42 }
                return 0
            }
            try await sleep(0)
            #expect(task.cancel())
            #expect(try await task.value == 42)
            #expect(!task.isCancelled)
            #expect(task.cancelling() == 1, "the request is still counted")
        }
    }

    // CPython test_tasks: test_uncancel_basic, test_cancelling (3.11 semantics).
    @Test("cancelling() counts requests, uncancel() withdraws them and never goes below zero")
    func cancellingAndUncancel() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let task = loop.createTask { () async throws -> Void in try await sleep(3_600) }
            try await sleep(0)
            #expect(task.cancelling() == 0)
            #expect(task.cancel())
            #expect(task.cancelling() == 1)
            #expect(task.cancel(message: "again"))
            #expect(task.cancelling() == 2)
            #expect(task.uncancel() == 1)
            #expect(task.uncancel() == 0)
            #expect(task.uncancel() == 0, "never below zero")
            // Swift's cancellation cannot be withdrawn: the body was cancelled anyway.
            await #expect(throws: CancelledError.self) { try await task.value }
            #expect(!task.cancel(), "cancel on a done task returns false")
            #expect(task.cancelling() == 0, "and counts nothing")
        }
    }

    @Test("cancel requests from 4 threads, 250 each, are all counted exactly", arguments: 0..<3)
    func cancelFromManyThreads(round: Int) throws {
        let loop = try EventLoop()
        let task = loop.createTask { () async throws -> Void in try await sleep(3_600) }
        JoinableThread.runAll(4) { _ in
            for _ in 0..<250 { task.cancel(message: "x") }
        }
        #expect(task.cancelling() == 1_000)
        #expect(throws: CancelledError(message: "x")) { try loop.runUntilComplete(task.future) }
        try loop.close()
    }

    @Test("a task that cancels itself before its first suspension (eager) is cancelled at it")
    func eagerSelfCancel() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let task = loop.createTask(eager: true) { () async throws -> Int in
                currentTask()?.cancel(message: "self")
                try await sleep(3_600)
                return 1
            }
            await #expect(throws: CancelledError(message: "self")) { try await task.value }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// One trip through `loop`'s ready queue that a cancelled task can still make (a callback,
    /// not `sleep`, which would throw).
    static func yieldWithoutCancellation(_ loop: EventLoop) async {
        let hop = loop.createFuture(of: Void.self)
        _ = try? loop.callSoon { try hop.setResult(()) }
        await hop.waitIgnoringCancellation()
    }
}
