import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// Helpers for the task-group suites (Swift's groups on a loop, and `withLoopTaskGroup`).
enum TaskGroupTesting {
    /// Runs `main` with `run` (a new loop) on a thread of its own: `run` blocks its thread for
    /// the loop's life, and Swift's global pool has only 2 threads here. A watchdog stops the
    /// loop after `FutureTesting.generousSeconds`, so a scenario that hangs throws
    /// `EventLoopError.stoppedBeforeFutureCompleted` instead of hanging the test.
    static func runOnItsOwnThread<T: Sendable>(_ main: @escaping @Sendable () async throws -> T) async throws -> T {
        try await offThePool {
            Result {
                try run { () async throws -> T in
                    try FutureTesting.armWatchdog(getRunningLoop())
                    return try await main()
                }
            }
        }.get()
    }
}
