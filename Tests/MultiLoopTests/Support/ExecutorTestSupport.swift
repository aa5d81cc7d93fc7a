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

/// Helpers for the executor suites (RunInExecutorTests, DefaultExecutorTests).
enum ExecutorTesting {
    typealias Gate = FutureTesting.Event

    /// Runs `main` with `run` (a new loop) on a thread of its own, and returns its result.
    static func onNewLoop<T: Sendable>(_ main: @escaping @Sendable () async throws -> T) async throws -> T {
        try await offThePool { Result { try run(main) } }.get()
    }

    /// Starts (eagerly) a task of `loop` whose function runs on the loop's default executor and
    /// holds its thread until `gate` opens, then returns 1; returns the task once the function
    /// runs. With `log`, the function notes "running job started" and "running job finished".
    static func startHeldJob(on loop: EventLoop, until gate: Gate,
                             log: Locked<[String]>? = nil) async throws -> LoopTask<Int> {
        let started = loop.createFuture(of: Void.self)
        let running = loop.createTask(eager: true) {
            try await loop.runInExecutor { () throws -> Int in
                log?.withLock { $0.append("running job started") }
                try started.setResult(())
                try gate.require("the test to release the running job")
                log?.withLock { $0.append("running job finished") }
                return 1
            }
        }
        try await started.value
        return running
    }

    /// What `body` threw, or nil.
    static func refusal(_ body: () async throws -> Void) async -> (any Error)? {
        do { try await body(); return nil } catch { return error }
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
}

private extension String {
    func trimmingSuffixNewline() -> String { hasSuffix("\n") ? String(dropLast()) : self }
}
