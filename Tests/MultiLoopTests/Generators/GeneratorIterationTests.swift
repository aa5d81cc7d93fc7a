import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// Iterating a generator (`for try await value in generator`): each step is `send(nil)`.
/// Python: `for value in gen`.
@Suite("Generator: iteration", .timeLimit(.minutes(5)))
struct GeneratorIterationTests {
    static func countdown(from start: Int) -> Generator<Int, Void, String> {
        Generator { context in
            var n = start
            while n > 0 {
                try await context.yield(n)
                n -= 1
            }
            return "liftoff"
        }
    }

    @Test("for-await yields every value and ends when the body returns; a finished generator yields nothing")
    func iterateToTheEnd() throws {
        try run { () async throws -> Void in
            let generator = Self.countdown(from: 3)
            var seen: [Int] = []
            for try await value in generator { seen.append(value) }
            #expect(seen == [3, 2, 1])
            #expect(generator.state == .closed)
            for try await value in generator { Issue.record("unexpected \(value)") }
        }
    }

    @Test("break leaves the generator suspended; iterating again goes on where it stopped")
    func breakAndResume() throws {
        try run { () async throws -> Void in
            let generator = Self.countdown(from: 4)
            for try await value in generator where value == 3 { break }
            #expect(generator.state == .suspended)
            var rest: [Int] = []
            for try await value in generator { rest.append(value) }
            #expect(rest == [2, 1])
        }
    }

    @Test("iteration continues a generator primed by hand, and rethrows the body's error")
    func primedAndFailing() throws {
        try run { () async throws -> Void in
            let generator = Generator<Int, Void, Void> { context in
                try await context.yield(1)
                try await context.yield(2)
                throw TestError(code: 3)
            }
            #expect(try await generator.send(nil).yieldedValue == 1)
            var seen: [Int] = []
            await #expect(throws: TestError(code: 3)) {
                for try await value in generator { seen.append(value) }
            }
            #expect(seen == [2])
        }
    }
}
