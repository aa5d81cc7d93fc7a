import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// An actor pinned to a loop that yields with `sleep(0)`.
private actor Yielder {
    let loop: EventLoop
    private(set) var offLoop = 0

    init(loop: EventLoop) { self.loop = loop }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    func yieldRepeatedly(_ times: Int) async throws {
        for _ in 0..<times {
            try await sleep(0)
            if !loop.isOnLoopThread { offLoop += 1 }
        }
    }
}

@Suite("sleep(0): one task switch, one iteration", .timeLimit(.minutes(5)))
struct SleepZeroTests {
    @Test("sleep(0) resumes in the next iteration: after the callbacks scheduled before it, before theirs")
    func oneIteration() throws {
        let order = try run { () async throws -> [String] in
            let loop = try getRunningLoop()
            let log = LoopConfined([String]())
            try loop.callSoon {
                log.value.append("first")
                try loop.callSoon { log.value.append("scheduled by first") }
            }
            try await sleep(0)
            log.value.append("task")
            try await sleep(0)
            try await sleep(0)
            return log.value
        }
        #expect(order == ["first", "task", "scheduled by first"])
    }

    @Test("two tasks that sleep(0) in turn alternate strictly")
    func twoTasksAlternate() throws {
        let trace = try run { () async throws -> [Int] in
            let loop = try getRunningLoop()
            let log = LoopConfined([Int]())
            let tasks = (0..<2).map { id in
                loop.createTask {
                    for _ in 0..<50 {
                        log.value.append(id)
                        try await sleep(0)
                    }
                }
            }
            for task in tasks { try await task.value }
            return log.value
        }
        #expect(trace == Array(repeating: [0, 1], count: 50).flatMap { $0 })
    }

    @Test("an actor pinned to a loop stays isolated across sleep(0)")
    func actorStaysOnTheLoop() throws {
        let offLoop = try run { () async throws -> Int in
            let yielder = Yielder(loop: try getRunningLoop())
            try await yielder.yieldRepeatedly(1_000)
            return await yielder.offLoop
        }
        #expect(offLoop == 0)
    }

    @Test("sleep(0) in a cancelled task throws CancellationError, before and after the switch")
    func cancellation() throws {
        let outcomes = try run { () async throws -> [String] in
            let loop = try getRunningLoop()
            let before = loop.createTask { () async throws -> Void in
                withUnsafeCurrentTask { $0?.cancel() }
                try await sleep(0)
            }
            let during = loop.createTask { () async throws -> Void in try await sleep(0) }
            _ = during.cancel()
            var outcomes: [String] = []
            for task in [before, during] {
                do {
                    try await task.value
                    outcomes.append("returned")
                } catch {
                    outcomes.append(task.isCancelled ? "cancelled" : "failed: \(error)")
                }
            }
            return outcomes
        }
        #expect(outcomes == ["cancelled", "cancelled"])
    }

    @Test("a task left in sleep(0) when the loop stops is resumed by close(), exactly once")
    func closeResumesATaskLeftInSleepZero() throws {
        let loop = try EventLoop()
        let steps = LoopConfined([String]())
        let handler = Locked([String]())
        loop.setExceptionHandler { _, context in handler.withLock { $0.append(context.message) } }
        let task = LoopConfined<LoopTask<Int>?>(nil)
        try loop.callSoon {
            loop.stop()
            task.value = loop.createTask(eager: true) {
                steps.value.append("before")
                try await sleep(0)
                steps.value.append("after")
                return 7
            }
        }
        try loop.runForever()
        #expect(steps.value == ["before"])
        let report = try loop.close()
        #expect(steps.value == ["before", "after"])
        #expect(report.callbacksRun == 1)
        #expect(try task.value?.result() == 7)
        #expect(handler.value.isEmpty)
    }

    @Test("sleep(0) in a task of the global executor falls back to Task.yield")
    func offTheLoop() async throws {
        for _ in 0..<10 { try await sleep(0) }
        #expect((try? getRunningLoop()) == nil)
    }
}
