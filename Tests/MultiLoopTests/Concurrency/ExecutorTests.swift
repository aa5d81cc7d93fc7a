import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// An actor whose executor is an event loop.
private actor PinnedCounter {
    let loop: EventLoop
    private(set) var count = 0
    private(set) var offLoop = 0

    init(loop: EventLoop) { self.loop = loop }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    func bump() {
        if !loop.isOnLoopThread { offLoop += 1 }
        count += 1
    }
}

@Suite("The loop as a Swift executor", .timeLimit(.minutes(5)))
struct ExecutorTests {
    @Test("a task, its async let children and its task group children run on the loop's thread")
    func tasksAndChildrenRunOnTheLoop() throws {
        let places = try run { () async throws -> [Bool] in
            let loop = try getRunningLoop()
            async let child = loop.isOnLoopThread
            let grouped = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 { group.addTask { loop.isOnLoopThread } }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            let running = try getRunningLoop() === loop
            return [loop.isOnLoopThread, running, await child] + grouped
        }
        #expect(places == Array(repeating: true, count: 7))
    }

    @Test("tasks created from other threads run on the loop, each exactly once", arguments: 0..<3)
    func tasksFromOtherThreads(round: Int) throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        let misplaced = Locked(0)
        try withLoopOnThread(loop) {
            JoinableThread.runAll(4) { _ in
                for _ in 0..<250 {
                    loop.createTask {
                        if !loop.isOnLoopThread { misplaced.withLock { $0 += 1 } }
                        try await sleep(0)
                        ran.value += 1
                    }
                }
            }
            // Wait for every task through the loop's own registry.
            let waiter = loop.createFuture(of: Void.self)
            try loop.execute {
                let pending = loop.allTasks()  // before the waiting task exists: it must not wait for itself
                loop.createTask {
                    for task in pending { await task.waitUntilDone() }
                    try waiter.setResult(())
                }
            }
            try waiter.wait(timeout: 60)
            try settle(loop)
        }
        #expect(ran.value == 1_000)
        #expect(misplaced.value == 0)
    }

    @Test("an actor pinned to a loop runs there; assumeIsolated works in the loop's callbacks")
    func actorPinnedToALoop() throws {
        let loop = try EventLoop()
        let counter = PinnedCounter(loop: loop)
        // The callers are tasks of another loop, not `Task {}`: the global pool has only as many
        // threads as cores, and blocking tests may hold them all.
        let callers = try FutureTesting.LoopThread()
        defer { callers.shutDown() }
        try withLoopOnThread(loop) {
            let done = loop.createFuture(of: Int.self)
            JoinableThread.runAll(2) { _ in
                for _ in 0..<100 { callers.loop.createTask { await counter.bump() } }
            }
            try loop.execute {
                loop.createTask {
                    while await counter.count < 200 { try await sleep(0.001) }
                    try done.setResult(await counter.offLoop)
                }
            }
            #expect(try done.wait(timeout: 60) == 0)
            let isolatedCount = try onLoop(loop) { counter.assumeIsolated { $0.count } }
            #expect(isolatedCount == 200)
        }
        #expect(!loop.isOnLoopThread)
        #expect(loop.isIsolatingCurrentContext() == false)
    }

    @Test("a task on loop A awaiting a future completed on loop B resumes on A", arguments: 0..<5)
    func crossLoopAwait(round: Int) throws {
        let b = try FutureTesting.LoopThread()
        defer { b.shutDown() }
        let outcome = try run { () async throws -> (Int, Bool) in
            let a = try getRunningLoop()
            let future = b.loop.createFuture(of: Int.self)
            try b.loop.callLater(0.001) { try future.setResult(round) }
            let value = try await future.value
            return (value, a.isOnLoopThread)
        }
        #expect(outcome.0 == round)
        #expect(outcome.1)
    }

    @Test("awaiting an already-completed future does not suspend")
    func awaitingADoneFuture() throws {
        let value = try run { () async throws -> Int in
            let loop = try getRunningLoop()
            let future = loop.createFuture(of: Int.self)
            try future.setResult(7)
            let before = loop.statistics.iterations
            let value = try await future.value
            #expect(loop.statistics.iterations == before)
            return value
        }
        #expect(value == 7)
    }

    @Test("cancelling a task that awaits a future ends the wait with CancellationError; the future is untouched")
    func cancelWhileAwaitingAFuture() throws {
        let futureState = try run { () async throws -> Bool in
            let loop = try getRunningLoop()
            let future = loop.createFuture(of: Int.self)
            let waiter = loop.createTask { try await future.value }
            try await sleep(0.001)
            waiter.cancel()
            await waiter.waitUntilDone()
            #expect(waiter.isCancelled)
            #expect(throws: CancelledError.self) { try waiter.result() }
            return future.isDone
        }
        #expect(futureState == false)
    }
}

@Suite("Task.sleep on the loop's timers (SchedulingExecutor)", .timeLimit(.minutes(5)))
struct SchedulingExecutorTests {
    @Test("Task.sleep in a loop task is one of the loop's timers, and the task resumes on the loop")
    func taskSleepUsesTheLoopsTimers() async throws {
        // `run` blocks its thread for the loop's life: a thread of our own, not one of the two of
        // Swift's global pool (the loop's wake-up needs nothing from the pool, but a blocked pool
        // thread here would leave the other suites one thread).
        let (heapDuringSleep, onLoop) = try await offThePool { Result { try run { () async throws -> (Int, Bool) in
            let loop = try getRunningLoop()
            let sleeper = loop.createTask { () async throws -> Bool in
                try await Task.sleep(for: .milliseconds(20))
                return loop.isOnLoopThread
            }
            // Look at the heap once the sleeper is asleep (no time assumed: a bounded number of
            // iterations; without the loop's timer the heap stays empty and the check fails).
            for _ in 0..<10_000 where loop.timers.count == 0 && !sleeper.isDone { try await sleep(0) }
            let heap = loop.timers.count  // this task runs on the loop thread
            return (heap, try await sleeper.value)
        } } }.get()
        #expect(heapDuringSleep == 1)
        #expect(onLoop)
    }

    @Test("a cancelled Task.sleep in a loop task throws; the loop still runs its wake-up job later")
    func cancelledTaskSleep() async throws {
        let cancelled = try await offThePool { Result { try run { () async throws -> Bool in
            let loop = try getRunningLoop()
            let sleeper = loop.createTask { try await Task.sleep(for: .milliseconds(30)) }
            // Cancel in the step that sees the sleeper's timer in the heap: no iteration, so no
            // timer, can come between (no time assumed, whatever the machine's load).
            for _ in 0..<10_000 where loop.timers.count == 0 { try await sleep(0) }
            #expect(loop.timers.count == 1)
            sleeper.cancel()
            await sleeper.waitUntilDone()
            // The wake-up job of the cancelled sleep runs at its deadline, before this later one.
            try await sleep(0.05)
            return sleeper.isCancelled
        } } }.get()
        #expect(cancelled)
    }
}
