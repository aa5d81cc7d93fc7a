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

/// Helpers for the Sync suites (Lock, Event, Semaphore, AsyncQueue), in one namespace so that
/// they cannot clash with other suites' helpers.
enum SyncTesting {
    typealias LoopThread = FutureTesting.LoopThread
    typealias Gate = FutureTesting.Event
    typealias StartLine = FutureTesting.StartLine

    /// Runs `count` loops, each on a thread of its own, for the duration of `body`; then stops
    /// them, joins their threads and closes them.
    static func withLoops<T>(_ count: Int, _ body: ([LoopThread]) throws -> T) throws -> T {
        let loops = try (0..<count).map { _ in try LoopThread() }
        defer { loops.forEach { $0.shutDown() } }
        return try body(loops)
    }

    /// Whether a task's outcome is that it was cancelled (`CancelledError`).
    static func wasCancelled<V>(_ outcome: Result<V, any Error>) -> Bool {
        if case .failure(let error) = outcome { return error is CancelledError }
        return false
    }

    /// Blocks until the task is done, whatever its outcome (bounded by `generousSeconds`), and
    /// returns that outcome.
    @discardableResult
    static func outcome<V>(of task: LoopTask<V>) throws -> Result<V, any Error> {
        let result = Result { try task.future.wait(timeout: FutureTesting.generousSeconds) }
        var timedOut = false
        if case .failure(_ as FutureWaitError) = result { timedOut = true }
        try #require(!timedOut, "task \(task.name) did not finish within \(FutureTesting.generousSeconds) s")
        return result
    }

    /// Blocks until every task is done and returns their values; throws the first error.
    static func values<V>(of tasks: [LoopTask<V>]) throws -> [V] {
        try tasks.map { try outcome(of: $0).get() }
    }

    /// Polls `condition` until it holds (bounded by `generousSeconds`: a safety net, not a
    /// measurement).
    static func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        let happened = FutureTesting.poll(condition)
        try #require(happened, "did not happen within \(FutureTesting.generousSeconds) s: \(what)")
    }

    /// Varies which of two racing parties goes first from round to round: in one round in three
    /// party 0 yields its thread a few times after the start line, in another party 1 does.
    static func jitter(round: Int, party: Int) {
        guard round % 3 == party + 1 else { return }
        for _ in 0..<(round % 5 + 1) { sched_yield() }
    }

    /// Blocks the loop's thread in a callback until the returned gate is signalled: a task of
    /// that loop woken meanwhile cannot resume before. Returns once the loop is blocked.
    static func block(_ loop: EventLoop) throws -> Gate {
        let gate = Gate(), blocked = Gate()
        try loop.callSoon {
            blocked.signal()
            _ = gate.wait()
        }
        try blocked.require("the loop blocked in a callback")
        return gate
    }
}
