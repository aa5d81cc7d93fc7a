import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// The state machine of one future, on one thread: pending -> result | exception | cancelled,
/// and what every accessor says in each state. asyncio: `asyncio.Future`.
@Suite("Future states", .timeLimit(.minutes(5)))
struct FutureStateTests {
    typealias Boom = FutureTesting.Boom

    /// A future on a loop that is never run (the state accessors do not need one).
    private func makeFuture<Value: Sendable>(_ type: Value.Type = Int.self) throws -> (EventLoop, Future<Value>) {
        let loop = try EventLoop()
        return (loop, loop.createFuture(of: type))
    }

    @Test("a new future is pending: not done, not cancelled, and its result and exception are not ready")
    func pending() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        #expect(!future.isDone)
        #expect(!future.isCancelled)
        #expect(throws: InvalidStateError.resultNotReady) { try future.result() }
        #expect(throws: InvalidStateError.resultNotReady) { try future.exception() }
        #expect(future.loop === loop)
        #expect(future.description == "<Future pending>")
    }

    @Test("Future(loop:) and loop.createFuture() both make a pending future bound to that loop")
    func bothInitializers() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let direct = Future<String>(loop: loop)
        let created = loop.createFuture(of: String.self)
        #expect(direct.loop === loop && created.loop === loop)
        #expect(!direct.isDone && !created.isDone)
    }

    @Test("setResult makes the future done with that value and no exception")
    func withResult() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        try future.setResult(42)
        #expect(future.isDone)
        #expect(!future.isCancelled)
        #expect(try future.result() == 42)
        #expect(try future.exception() == nil)
        #expect(future.description == "<Future result=42>")
    }

    @Test("setException makes the future done: result() rethrows the error and exception() returns it")
    func withException() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        try future.setException(Boom(code: 7))
        #expect(future.isDone)
        #expect(!future.isCancelled)
        #expect(throws: Boom(code: 7)) { try future.result() }
        let error = try future.exception()
        #expect(error as? Boom == Boom(code: 7))
    }

    @Test("cancel makes the future done and cancelled: result() and exception() both throw CancelledError")
    func cancelled() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        #expect(future.cancel())
        #expect(future.isDone)
        #expect(future.isCancelled)
        #expect(throws: CancelledError()) { try future.result() }
        #expect(throws: CancelledError()) { try future.exception() }
        #expect(future.description == "<Future cancelled>")
    }

    @Test("cancel(message:) keeps the message in the CancelledError that result() and exception() throw")
    func cancelMessage() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        #expect(future.cancel(message: "shutting down"))
        let fromResult = #expect(throws: CancelledError.self) { try future.result() }
        #expect(fromResult?.message == "shutting down")
        let fromException = #expect(throws: CancelledError.self) { try future.exception() }
        #expect(fromException?.message == "shutting down")
    }

    @Test("setResult on a future that already has a result throws alreadyDone and keeps the first value")
    func setResultTwice() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        try future.setResult(1)
        #expect(throws: InvalidStateError.alreadyDone) { try future.setResult(2) }
        #expect(try future.result() == 1)
    }

    @Test("setException after setResult throws alreadyDone and keeps the value")
    func setExceptionAfterResult() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        try future.setResult(1)
        #expect(throws: InvalidStateError.alreadyDone) { try future.setException(Boom()) }
        #expect(try future.result() == 1)
        #expect(try future.exception() == nil)
    }

    @Test("setResult after setException throws alreadyDone and keeps the error")
    func setResultAfterException() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        try future.setException(Boom(code: 3))
        #expect(throws: InvalidStateError.alreadyDone) { try future.setResult(1) }
        #expect(throws: InvalidStateError.alreadyDone) { try future.setException(Boom(code: 4)) }
        #expect(throws: Boom(code: 3)) { try future.result() }
    }

    @Test("setResult and setException on a cancelled future throw alreadyDone and it stays cancelled")
    func completeAfterCancel() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        future.cancel()
        #expect(throws: InvalidStateError.alreadyDone) { try future.setResult(1) }
        #expect(throws: InvalidStateError.alreadyDone) { try future.setException(Boom()) }
        #expect(future.isCancelled)
        #expect(throws: CancelledError()) { try future.result() }
    }

    @Test("cancel returns true the first time and false afterwards, keeping the first message")
    func cancelTwice() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        #expect(future.cancel(message: "first"))
        #expect(!future.cancel(message: "second"))
        #expect(!future.cancel())
        #expect(future.isCancelled)
        #expect(throws: CancelledError(message: "first")) { try future.result() }
    }

    @Test("cancel on a future that has a result returns false and leaves the result")
    func cancelAfterResult() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        try future.setResult(5)
        #expect(!future.cancel())
        #expect(!future.isCancelled)
        #expect(try future.result() == 5)
    }

    @Test("cancel on a future that has an exception returns false and leaves the exception")
    func cancelAfterException() throws {
        let (loop, future) = try makeFuture()
        defer { _ = try? loop.close() }
        try future.setException(Boom(code: 9))
        #expect(!future.cancel())
        #expect(!future.isCancelled)
        #expect(throws: Boom(code: 9)) { try future.result() }
        #expect(try future.exception() as? Boom == Boom(code: 9))
    }

    @Test("a future whose value type is Void completes with ()")
    func voidFuture() throws {
        let (loop, future) = try makeFuture(Void.self)
        defer { _ = try? loop.close() }
        try future.setResult(())
        #expect(future.isDone)
        try future.result()
    }

    @Test("a future can be completed on a closed loop, and its state reads as usual")
    func completeOnClosedLoop() throws {
        let (loop, future) = try makeFuture()
        try loop.close()
        try future.setResult(11)
        #expect(try future.result() == 11)
    }
}
