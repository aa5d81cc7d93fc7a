import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("Tasks (asyncio.Task) and sleep", .timeLimit(.minutes(5)))
struct TaskTests {
    @Test("a task is a future: result, name, done callback, exception")
    func taskIsAFuture() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let named = loop.createTask(name: "answer") { 42 }
            let calledBack = loop.createFuture(of: String.self)
            try named.addDoneCallback { task in try calledBack.setResult(task.name) }
            #expect(try await named.value == 42)
            #expect(named.isDone && !named.isCancelled)
            #expect(try named.result() == 42)
            #expect(try named.exception() == nil)
            #expect(try await calledBack.value == "answer")
            let unnamed = loop.createTask { 0 }
            #expect(unnamed.name.hasPrefix("Task-"))

            let failing = loop.createTask { () async throws -> Int in throw TestError(code: 3) }
            await #expect(throws: TestError(code: 3)) { try await failing.value }
            #expect(try failing.exception() as? TestError == TestError(code: 3))
            #expect(!failing.isCancelled)
        }
    }

    @Test("cancel() ends a sleeping task at its suspension; its result throws CancelledError")
    func cancelASleepingTask() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reached = LoopConfined(false)
            let sleeper = loop.createTask { () async throws -> Int in
                try await sleep(3_600)
                reached.value = true
                return 1
            }
            try await sleep(0)
            #expect(sleeper.cancel())
            await sleeper.waitUntilDone()
            #expect(sleeper.isCancelled)
            #expect(!reached.value)
            #expect(throws: CancelledError.self) { try sleeper.result() }
            await #expect(throws: CancelledError.self) { try await sleeper.value }
            #expect(!sleeper.cancel(), "a done task cannot be cancelled")
        }
    }

    @Test("a task that swallows its cancellation stays alive and returns normally")
    func swallowedCancellation() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let stubborn = loop.createTask { () async throws -> String in
                do {
                    try await sleep(3_600)
                } catch is CancellationError {
                    try? await sleep(0.001)  // still cancelled: throws at once, swallowed again
                    return "survived"
                }
                return "slept"
            }
            try await sleep(0)
            stubborn.cancel()
            #expect(try await stubborn.value == "survived")
            #expect(!stubborn.isCancelled)
        }
    }

    @Test("a task cancelled before it starts never runs its body")
    func cancelledBeforeStart() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let started = LoopConfined(false)
            let task = loop.createTask { () async throws -> Void in
                try Task.checkCancellation()
                started.value = true
            }
            task.cancel()
            await task.waitUntilDone()
            #expect(task.isCancelled)
            #expect(!started.value)
        }
    }

    @Test("an eager task runs at once, up to its first suspension; a lazy one in the next iteration")
    func eagerTasks() throws {
        let order = try run { () async throws -> [String] in
            let loop = try getRunningLoop()
            let order = LoopConfined<[String]>([])
            let lazy = loop.createTask { order.value.append("lazy") }
            let eager = loop.createTask(eager: true) {
                order.value.append("eager before")
                try await sleep(0)
                order.value.append("eager after")
            }
            order.value.append("creator")
            _ = try await (lazy.value, eager.value)
            return order.value
        }
        #expect(order.first == "eager before")
        #expect(order[1] == "creator")
        #expect(Set(order) == ["eager before", "creator", "lazy", "eager after"])
    }

    @Test("sleep(0) yields to the loop exactly once: two tasks interleave step by step")
    func sleepZeroYieldsOnce() throws {
        let order = try run { () async throws -> [String] in
            let loop = try getRunningLoop()
            let order = LoopConfined<[String]>([])
            let tasks = ["a", "b"].map { name in
                loop.createTask {
                    for step in 1...3 {
                        order.value.append("\(name)\(step)")
                        try await sleep(0)
                    }
                }
            }
            for task in tasks { try await task.value }
            return order.value
        }
        #expect(order == ["a1", "b1", "a2", "b2", "a3", "b3"])
    }

    @Test("sleeps end in deadline order, on the loop's timers")
    func sleepsEndInDeadlineOrder() throws {
        let order = try run { () async throws -> [Int] in
            let loop = try getRunningLoop()
            let order = LoopConfined<[Int]>([])
            let tasks = [30, 10, 20].map { milliseconds in
                loop.createTask {
                    try await sleep(Double(milliseconds) / 1_000)
                    order.value.append(milliseconds)
                }
            }
            for task in tasks { try await task.value }
            return order.value
        }
        #expect(order == [10, 20, 30])
    }

    @Test("sleep(NaN) is refused; sleep off a loop falls back to Swift's clock")
    func sleepEdgeCases() async throws {
        do {
            try await sleep(.nan)
            Issue.record("sleep(.nan) must throw")
        } catch let error as EventLoopError {
            guard case .invalidDelay(let value) = error, value.isNaN else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        try await sleep(0.001)  // a test task: no loop runs on its thread
        try await sleep(0)
    }
}
