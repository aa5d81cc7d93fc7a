import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// A future keeps its value in words of its own (three words inline, larger or more aligned
/// values in a heap cell) and destroys it exactly once, when the future goes away.
@Suite("Future outcome storage", .timeLimit(.minutes(5)))
struct FutureOutcomeTests {
    /// Counts its instances still alive.
    final class Tracked: @unchecked Sendable {
        static let alive = Locked(0)
        let id: Int
        init(_ id: Int) {
            self.id = id
            Self.alive.withLock { $0 += 1 }
        }
        deinit { Self.alive.withLock { $0 -= 1 } }
    }

    struct ThreeWords: Equatable, Sendable { var a: Int, b: Int, c: String.UTF8View.Index? = nil }
    struct FiveWords: Sendable { var a: Int, b: Int, c: Int, d: Int, tracked: Tracked }

    /// Completes a future of `value`'s type, reads it back twice, and returns it.
    static func roundTrip<V: Sendable>(_ value: V) throws -> (V, V) {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let future = loop.createFuture(of: V.self)
        try future.setResult(value)
        return (try future.result(), try future.result())
    }

    @Test("values of every size and alignment come back intact")
    func valuesOfEverySize() throws {
        #expect(Future<Int>.storesValueInline)
        #expect(Future<String>.storesValueInline)
        #expect(Future<[Int]>.storesValueInline)
        #expect(!Future<FiveWords>.storesValueInline)
        #expect(!Future<SIMD4<Float>>.storesValueInline, "16-byte alignment goes to the heap")

        #expect(try Self.roundTrip(42) == (42, 42))
        #expect(try Self.roundTrip("a string longer than fifteen bytes") == ("a string longer than fifteen bytes", "a string longer than fifteen bytes"))
        #expect(try Self.roundTrip([1, 2, 3]).0 == [1, 2, 3])
        #expect(try Self.roundTrip(Optional<Int>.none).0 == nil)
        #expect(try Self.roundTrip(ThreeWords(a: 1, b: 2)).1 == ThreeWords(a: 1, b: 2))
        #expect(try Self.roundTrip(SIMD4<Float>(1, 2, 3, 4)).0 == SIMD4<Float>(1, 2, 3, 4))
        let big = try Self.roundTrip(FiveWords(a: 1, b: 2, c: 3, d: 4, tracked: Tracked(5)))
        #expect(big.0.d == 4 && big.1.tracked.id == 5)
        try Self.roundTrip(()).0
    }

    @Test("the value is released exactly once when the future goes away, inline or in a heap cell")
    func valueReleasedWithTheFuture() throws {
        let before = Tracked.alive.value
        do {
            let loop = try EventLoop()
            defer { _ = try? loop.close() }
            let small = loop.createFuture(of: Tracked.self)
            let large = loop.createFuture(of: FiveWords.self)
            try small.setResult(Tracked(1))
            try large.setResult(FiveWords(a: 0, b: 0, c: 0, d: 0, tracked: Tracked(2)))
            #expect(Tracked.alive.value == before + 2)
            #expect(try small.result().id == 1)
            #expect(try large.result().tracked.id == 2)
            let pending = loop.createFuture(of: Tracked.self)
            _ = pending
        }
        #expect(Tracked.alive.value == before)
    }

    @Test("errors and cancellation: result throws, exception answers, description says which")
    func errorsAndCancellation() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let failed = loop.createFuture(of: String.self)
        try failed.setException(TestError(code: 4))
        #expect(throws: TestError(code: 4)) { try failed.result() }
        #expect(try failed.exception() as? TestError == TestError(code: 4))
        #expect(failed.description == "<Future exception=TestError(code: 4)>")

        let cancelled = loop.createFuture(of: String.self)
        #expect(cancelled.cancel(message: "stop"))
        #expect(throws: CancelledError.self) { try cancelled.result() }
        #expect(throws: CancelledError.self) { try cancelled.exception() }
        #expect(cancelled.description == "<Future cancelled>")

        let pending = loop.createFuture(of: String.self)
        #expect(throws: InvalidStateError.resultNotReady) { try pending.result() }
        #expect(pending.description == "<Future pending>")
        try pending.setResult("x")
        #expect(pending.description == "<Future result=x>")
        #expect(throws: InvalidStateError.alreadyDone) { try pending.setResult("y") }
        #expect(try pending.result() == "x")
    }
}
