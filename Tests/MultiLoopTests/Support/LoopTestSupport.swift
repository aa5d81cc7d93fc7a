import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// Runs `loop` on a thread of its own for the duration of `body`, then stops it, joins the
/// thread and closes the loop. Returns what `body` returns.
func withLoopOnThread<T>(_ loop: EventLoop, _ body: () throws -> T) throws -> T {
    let thread = JoinableThread { try! loop.runForever() }
    defer {
        loop.stop()
        thread.join()
        #expect(!loop.isRunning, "the loop thread returned, so the loop must have stopped")
        _ = try? loop.close()
    }
    return try body()
}

/// Runs `body` on the loop's thread (as a callback) and blocks until it has run; rethrows.
/// The loop must be running on another thread.
func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let future = loop.createFuture(of: T.self)
    try loop.callSoonThreadsafe {
        do { try future.setResult(body()) } catch { try future.setException(error) }
    }
    return try future.wait(timeout: 60)
}

/// Blocks until everything handed to `loop` before this call, by any thread, has run. The loop
/// must be running on another thread.
///
/// One round trip is not enough: callbacks from different threads are ordered only per thread
/// (see `EventLoop`), so work another thread submitted just before may be taken in the next
/// iteration, after our callback. Everything submitted before our callback was taken is taken by
/// the next iteration at the latest, and runs in it; a second local hop, scheduled during that
/// iteration, runs after all of it.
func settle(_ loop: EventLoop) throws {
    let future = loop.createFuture(of: Void.self)
    try loop.execute {
        try loop.callSoon {
            try loop.callSoon { try future.setResult(()) }
        }
    }
    try future.wait(timeout: 60)
}

/// Collects exception-handler reports.
final class ErrorLog: @unchecked Sendable {
    private let reports = Locked<[EventLoopErrorContext]>([])
    var all: [EventLoopErrorContext] { reports.value }
    var count: Int { reports.value.count }

    func install(on loop: EventLoop) {
        loop.setExceptionHandler { _, context in self.reports.withLock { $0.append(context) } }
    }
}

struct TestError: Error, Equatable {
    var code: Int
}
