import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// Helpers for the StreamReader suites, in one namespace so that they cannot clash with other
/// suites' helpers.
enum StreamTesting {
    /// asyncio's `StreamTests.DATA`.
    static let data = bytes("line1\nline2\nline3\n")

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// A transport that records what the reader asks of it.
    final class FakeTransport: StreamReaderTransport, @unchecked Sendable {
        private let log = Locked<[String]>([])
        var calls: [String] { log.value }
        func pauseReading() { log.withLock { $0.append("pause") } }
        func resumeReading() { log.withLock { $0.append("resume") } }
    }

    /// `run { body }` with the body under a timeout: a read that never ends (a broken reader)
    /// is cancelled after `seconds` and the test fails with `TimeoutError`, instead of holding
    /// its thread for ever. A body takes milliseconds.
    static func run(seconds: Double = 20, _ body: @escaping @Sendable () async throws -> Void) throws {
        try MultiLoop.run {
            try await withTimeout(seconds) { _ in try await body() }
        }
    }

    /// In a task of the reader's loop: lets the loop run (`sleep(0)`) until a read waits in
    /// `reader`, for at most 1000 iterations.
    static func untilWaiting(_ reader: StreamReader, _ what: String = "a read waits for data") async throws {
        for _ in 0..<1000 {
            if reader.hasWaiter == true { return }
            try await sleep(0)
        }
        throw FutureTesting.DidNotHappen(what: what)
    }

    /// In a task of the same loop: lets the loop run until `task` is done, for at most 10 000
    /// iterations (a task that only waits for this loop's work finishes in a few), so that a
    /// read that never ends fails the test in milliseconds instead of hanging it.
    static func finish<V>(_ task: LoopTask<V>) async throws {
        for _ in 0..<10_000 {
            if task.isDone { return }
            try await sleep(0)
        }
        throw NeverFinished(task: task.name)
    }

    /// Thrown by `finish`.
    struct NeverFinished: Error, CustomStringConvertible {
        var task: String
        var description: String { "task \(task) did not finish within 10 000 iterations of its loop" }
    }

    /// `task`'s value, once `finish` saw it done.
    static func value<V>(of task: LoopTask<V>) async throws -> V {
        try await finish(task)
        return try await task.value
    }

    /// The error `task` ended with (nil if it returned a value), once `finish` saw it done.
    static func error<V>(of task: LoopTask<V>) async throws -> (any Error)? {
        try await finish(task)
        do {
            _ = try await task.value
            return nil
        } catch {
            return error
        }
    }

    /// A plain Swift task's value, or `DidNotHappen` after `seconds` (the task is then
    /// cancelled, which ends a read it waits in).
    static func value<V: Sendable>(of task: Task<V, any Error>, within seconds: Double = FutureTesting.generousSeconds)
        async throws -> V {
        try await withThrowingTaskGroup(of: V?.self) { group in
            group.addTask { try await task.value }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            guard let first = try await group.next(), let value = first else {
                task.cancel()
                throw FutureTesting.DidNotHappen(what: "a task's value", seconds: seconds)
            }
            group.cancelAll()
            return value
        }
    }
}
