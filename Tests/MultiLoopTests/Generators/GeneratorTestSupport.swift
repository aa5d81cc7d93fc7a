@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// What generator bodies and their drivers did, in order, for tests that check the exact order of
/// events (CPython's test_generators and test_yield_from keep the same `trace` list). Thread-safe:
/// a body may run on another loop's thread.
final class Trace: Sendable {
    private let entries = Locked<[String]>([])

    /// Appends `entry`.
    func callAsFunction(_ entry: String) {
        entries.withLock { $0.append(entry) }
    }

    var all: [String] { entries.value }
}

/// `n`, or "nil": how a trace shows a sent value.
func describe(_ n: Int?) -> String {
    n.map(String.init) ?? "nil"
}

/// `wait`, failing the test with `TimeoutError` after `seconds`: a wait that a bug makes endless
/// (a body that never gets to the point awaited, a cancellation that never arrives) fails within
/// seconds instead of hanging the suite, as `make mutants` requires of a kill.
func bounded<Value: Sendable>(
    _ seconds: Double = 10, _ wait: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await waitFor(seconds, wait)
}
