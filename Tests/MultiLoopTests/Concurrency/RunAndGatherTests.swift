import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("run(main) and gather", .timeLimit(.minutes(5)))
struct RunAndGatherTests {
    @Test("run returns main's result, sets the loop as this thread's loop meanwhile, and closes it")
    func runReturnsAndCleansUp() throws {
        setEventLoop(nil)
        let seen = Locked<EventLoop?>(nil)
        let value = try run { () async throws -> String in
            let running = try getRunningLoop()
            #expect(try getEventLoop() === running)
            seen.withLock { $0 = running }
            return "done"
        }
        #expect(value == "done")
        let loop = try #require(seen.value)
        #expect(loop.isClosed)
        #expect(Registry.setLoop.value == nil, "the previous setting (none) is restored")
    }

    @Test("run rethrows main's error")
    func runRethrows() throws {
        #expect(throws: TestError(code: 9)) {
            try run { () async throws -> Int in throw TestError(code: 9) }
        }
    }

    @Test("run refuses to start on a thread that is running a loop")
    func runInsideARunningLoop() throws {
        let loop = try EventLoop()
        let refusal = Locked<EventLoopError?>(nil)
        try loop.callSoon {
            do {
                _ = try run { 1 }
            } catch let error as EventLoopError {
                refusal.withLock { $0 = error }
            }
            loop.stop()
        }
        try loop.runForever()
        try loop.close()
        #expect(refusal.value == .anotherLoopRunningOnThisThread)
    }

    @Test("run cancels the tasks main left running and waits for each to finish")
    func runCancelsLeftovers() throws {
        let cleanedUp = Locked(0)
        let leftovers = Locked<[any CancellableLoopTask]>([])
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            for _ in 0..<3 {
                let task = loop.createTask { () async throws -> Void in
                    do {
                        try await sleep(3_600)
                    } catch {
                        cleanedUp.withLock { $0 += 1 }
                        throw error
                    }
                }
                leftovers.withLock { $0.append(task) }
            }
            try await sleep(0)
        }
        #expect(cleanedUp.value == 3)
        #expect(leftovers.value.allSatisfy { $0.isDone })
    }

    @Test("gather returns results in argument order, whatever the completion order")
    func gatherKeepsArgumentOrder() throws {
        let results = try run { () async throws -> [Int] in
            try await gather([30, 10, 20].map { milliseconds in
                { @Sendable () async throws -> Int in
                    try await sleep(Double(milliseconds) / 1_000)
                    return milliseconds
                }
            })
        }
        #expect(results == [30, 10, 20])
    }

    @Test("gather of different types returns a tuple")
    func gatherTuple() throws {
        let (number, text) = try run { () async throws -> (Int, String) in
            try await gather({ @Sendable in 1 }, { @Sendable in "two" })
        }
        #expect(number == 1)
        #expect(text == "two")
    }

    @Test("gather throws the first error and cancels the other children")
    func gatherFailFast() throws {
        let slowWasCancelled = try run { () async throws -> Bool in
            let loop = try getRunningLoop()
            let slow = loop.createTask { () async throws -> Int in
                try await sleep(3_600)
                return 0
            }
            let failing = loop.createTask { () async throws -> Int in
                try await sleep(0.001)
                throw TestError(code: 1)
            }
            await #expect(throws: TestError(code: 1)) { try await gather([slow, failing]) }
            await slow.waitUntilDone()
            return slow.isCancelled
        }
        #expect(slowWasCancelled)
    }

    @Test("gather(returningErrors:) puts each error in its place and lets the others finish")
    func gatherReturningErrors() throws {
        let results = try run { () async throws -> [Result<Int, any Error>] in
            try await gather(returningErrors: [
                { 1 },
                { throw TestError(code: 2) },
                { try await sleep(0.002); return 3 },
            ])
        }
        #expect(results.count == 3)
        #expect(try results[0].get() == 1)
        #expect(throws: TestError(code: 2)) { try results[1].get() }
        #expect(try results[2].get() == 3)
    }

    @Test("cancelling the task that awaits gather cancels every child")
    func cancellingGatherCancelsChildren() throws {
        let states = try run { () async throws -> [Bool] in
            let loop = try getRunningLoop()
            let children = (0..<3).map { _ in
                loop.createTask { () async throws -> Int in
                    try await sleep(3_600)
                    return 0
                }
            }
            let gathering = loop.createTask { try await gather(children) }
            try await sleep(0.001)
            gathering.cancel()
            await gathering.waitUntilDone()
            for child in children { await child.waitUntilDone() }
            return [gathering.isCancelled] + children.map(\.isCancelled)
        }
        #expect(states == [true, true, true, true])
    }

    @Test("1000 tasks over 4 loops; each loop's tasks complete exactly, and results come back in order")
    func manyTasksOverSeveralLoops() throws {
        let loops = try (0..<4).map { _ in try FutureTesting.LoopThread() }
        defer { loops.forEach { $0.shutDown() } }
        let total = try run { () async throws -> Int in
            let tasks = (0..<1_000).map { index in
                loops[index % 4].loop.createTask { () async throws -> Int in
                    try await sleep(0)
                    return index
                }
            }
            let values = try await gather(tasks)
            #expect(values == Array(0..<1_000))
            return values.count
        }
        #expect(total == 1_000)
    }
}
