import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("The exception handler", .timeLimit(.minutes(5)))
struct ExceptionHandlerTests {
    @Test("a callback that throws does not stop the loop; the error reaches the handler with the handle")
    func throwingCallbackGoesToHandler() throws {
        let loop = try EventLoop()
        let errors = ErrorLog()
        errors.install(on: loop)
        let after = LoopConfined(false)
        let failing = try loop.callSoon { throw TestError(code: 7) }
        try loop.callSoon { after.value = true }
        try loop.callLater(0) { throw TestError(code: 8) }
        try loop.callLater(0.001) { loop.stop() }
        try loop.runForever()
        #expect(after.value)
        #expect(errors.count == 2)
        #expect(errors.all.map { ($0.error as? TestError)?.code } == [7, 8])
        #expect(errors.all.first?.handle === failing)
        #expect(errors.all.first?.message == "exception in callback")
        #expect(errors.all.first?.description.contains("ExceptionHandlerTests.swift") == true)
        try loop.close()
    }

    @Test("setting nil restores the default handler; callExceptionHandler reaches the custom one")
    func handlerCanBeReplacedAndCleared() throws {
        let loop = try EventLoop()
        #expect(loop.exceptionHandler == nil)
        let errors = ErrorLog()
        errors.install(on: loop)
        #expect(loop.exceptionHandler != nil)
        loop.callExceptionHandler(EventLoopErrorContext(message: "custom"))
        #expect(errors.all.map(\.message) == ["custom"])
        loop.setExceptionHandler(nil)
        #expect(loop.exceptionHandler == nil)
        try loop.close()
    }

    @Test("errors thrown on a loop fed from several threads are each reported exactly once")
    func everyErrorReportedOnce() throws {
        let loop = try EventLoop()
        let errors = ErrorLog()
        errors.install(on: loop)
        try withLoopOnThread(loop) {
            JoinableThread.runAll(2) { producer in
                for index in 0..<200 {
                    try! loop.callSoonThreadsafe { throw TestError(code: producer * 1000 + index) }
                }
            }
            _ = try onLoopOrNil(loop)
        }
        let codes = errors.all.compactMap { ($0.error as? TestError)?.code }
        #expect(codes.count == 400)
        #expect(Set(codes).count == 400)
    }
}
