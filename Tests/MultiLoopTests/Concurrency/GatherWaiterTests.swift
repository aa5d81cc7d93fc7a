import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// A gather listens to each task in the task's own awaiter slot (one waiter object for the
/// whole gather); tasks whose slot is taken, or that are already done, are counted too, and
/// completions on several threads count down exactly.
@Suite("gather's waiter", .timeLimit(.minutes(5)))
struct GatherWaiterTests {
    @Test("tasks already done, tasks another task awaits (slot taken) and fresh ones: all counted, results in order")
    func everyKindOfChild() throws {
        let values = try run { () async throws -> [Int] in
            let loop = try getRunningLoop()
            let gate = loop.createFuture(of: Void.self)
            let done = loop.createTask { 1 }
            try await sleep(0)
            #expect(done.isDone)
            let awaited = loop.createTask { () async throws -> Int in try await gate.value; return 2 }
            let otherAwaiter = loop.createTask { try await awaited.value }  // takes `awaited`'s slot
            let fresh = loop.createTask { () async throws -> Int in try await gate.value; return 3 }
            try await sleep(0)
            try loop.callSoon { try gate.setResult(()) }
            // A child that is never counted would leave the gather waiting: fail in seconds.
            let values = try await waitFor(5) { try await gather([done, awaited, fresh]) }
            #expect(try await otherAwaiter.value == 2, "the slot's own awaiter still got its value")
            return values
        }
        #expect(values == [1, 2, 3])
    }

    @Test("a gather of tasks on four loops counts down exactly (completions on four threads, 50 rounds)")
    func tasksOnManyLoops() throws {
        let owners = try (0..<4).map { _ in try FutureTesting.LoopThread() }
        defer { owners.forEach { $0.shutDown() } }
        for round in 0..<50 {
            let sum = try run { () async throws -> Int in
                let tasks = (0..<200).map { index in
                    owners[index % 4].loop.createTask { () async throws -> Int in
                        if index % 3 == 0 { try await sleep(0) }
                        return index
                    }
                }
                return try await waitFor(5) { try await gather(tasks) }.reduce(0, +)
            }
            #expect(sum == 199 * 200 / 2, "round \(round)")
        }
    }

    @Test("the first error ends the gather and cancels the others; returningErrors keeps every outcome")
    func firstErrorAndReturningErrors() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let slow = loop.createTask { () async throws -> Int in try await sleep(3_600); return 0 }
            let failing = loop.createTask { () async throws -> Int in throw TestError(code: 8) }
            await #expect(throws: TestError(code: 8)) { try await gather([slow, failing]) }
            await slow.waitUntilDone()
            #expect(slow.isCancelled, "the others are cancelled once an error ends the gather")

            let outcomes = try await gather(returningErrors: [
                { @Sendable () async throws -> Int in 1 },
                { @Sendable () async throws -> Int in throw TestError(code: 9) },
                { @Sendable () async throws -> Int in try await sleep(0.001); return 3 },
            ])
            #expect(try outcomes[0].get() == 1)
            #expect(throws: TestError(code: 9)) { try outcomes[1].get() }
            #expect(try outcomes[2].get() == 3)
        }
    }
}
