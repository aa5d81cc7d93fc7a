import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("waitFor, runCoroutineThreadsafe, runInExecutor", .timeLimit(.minutes(5)))
struct TimeoutsAndThreadsTests {
    @Test("waitFor returns the result of work that finishes in time")
    func waitForInTime() throws {
        let value = try run { try await waitFor(10) { try await sleep(0.001); return 5 } }
        #expect(value == 5)
    }

    @Test("waitFor cancels work that overruns, lets it clean up, and throws TimeoutError")
    func waitForTimesOut() throws {
        let cleanedUp = Locked(false)
        try run { () async throws -> Void in
            await #expect(throws: TimeoutError(seconds: 0.01)) {
                try await waitFor(0.01) { () async throws -> Int in
                    do {
                        try await sleep(3_600)
                    } catch {
                        cleanedUp.withLock { $0 = true }
                        throw error
                    }
                    return 0
                }
            }
        }
        #expect(cleanedUp.value, "the work's cleanup ran before waitFor threw")
    }

    @Test("withTimeout is a timeout scope; nil waits as long as it takes; NaN is refused")
    func timeoutScope() throws {
        try run { () async throws -> Void in
            await #expect(throws: TimeoutError.self) {
                try await withTimeout(0.005) { _ in try await sleep(3_600) }
            }
            #expect(try await withTimeout(nil) { _ in try await sleep(0.001); return "ok" } == "ok")
            do {
                _ = try await waitFor(.nan) { 1 }
                Issue.record("NaN must be refused")
            } catch let error as EventLoopError {
                guard case .invalidDelay = error else { Issue.record("\(error)"); return }
            }
        }
    }

    @Test("a timeout of zero, negative or -infinity times out at once; +infinity waits as nil does")
    func nonPositiveAndInfiniteTimeouts() throws {
        try run { () async throws -> Void in
            for timeout in [0, -1, -Double.infinity] {
                // Bounded: a waitFor that ignored its timeout would end here, after 5 s, with
                // the outer TimeoutError (5 s), not the inner one.
                await #expect(throws: TimeoutError(seconds: timeout), "timeout \(timeout)") {
                    try await waitFor(5) { try await waitFor(timeout) { try await sleep(3_600) } }
                }
            }
            #expect(try await waitFor(.infinity) { try await sleep(0.001); return "ok" } == "ok")
        }
    }

    @Test("cancelling the task that awaits waitFor cancels the work")
    func cancellingWaitFor() throws {
        let states = try run { () async throws -> (Bool, Bool) in
            let loop = try getRunningLoop()
            let workCancelled = LoopConfined(false)
            let outer = loop.createTask {
                try await waitFor(3_600) { () async throws -> Void in
                    do { try await sleep(3_600) } catch { workCancelled.value = true; throw error }
                }
            }
            try await sleep(0.001)
            outer.cancel()
            await outer.waitUntilDone()
            return (outer.isCancelled, workCancelled.value)
        }
        #expect(states == (true, true))
    }

    @Test("runCoroutineThreadsafe from plain threads: blockable with a timeout, awaitable on another loop")
    func runCoroutineThreadsafeAcrossThreads() throws {
        let target = try FutureTesting.LoopThread()
        defer { target.shutDown() }
        let futures = try (0..<20).map { index in
            try target.loop.runCoroutineThreadsafe { () async throws -> Int in
                try await sleep(0.001)
                #expect(target.loop.isOnLoopThread)
                return index * 2
            }
        }
        #expect(try futures.map { try $0.wait(timeout: 30) } == (0..<20).map { $0 * 2 })
        let awaited = try run { () async throws -> Int in
            let future = try target.loop.runCoroutineThreadsafe { 21 }
            return try await future.value * 2
        }
        #expect(awaited == 42)
    }

    @Test("cancelling runCoroutineThreadsafe's future cancels the work")
    func cancellingTheThreadsafeFuture() throws {
        let target = try FutureTesting.LoopThread()
        defer { target.shutDown() }
        let workCancelled = Locked(false)
        let started = FutureTesting.Event()
        let future = try target.loop.runCoroutineThreadsafe { () async throws -> Int in
            started.signal()
            do { try await sleep(3_600) } catch { workCancelled.withLock { $0 = true }; throw error }
            return 0
        }
        try started.require("the work to start")
        #expect(future.cancel())
        #expect(throws: CancelledError.self) { try future.wait(timeout: 30) }
        try target.drain()
        try target.drain()
        #expect(workCancelled.value)
    }

    @Test("runInExecutor runs blocking work on pool threads while the loop keeps running")
    func runInExecutorDoesNotBlockTheLoop() throws {
        let pool = ThreadPool(threads: 2, name: "test-pool")
        defer { pool.shutdown() }
        let (results, ticks) = try run { () async throws -> ([Int], Int) in
            let loop = try getRunningLoop()
            let release = FutureTesting.Event()
            let ticks = LoopConfined(0)
            let ticker = loop.createTask {
                while !release.isSignalled { ticks.value += 1; try await sleep(0.001) }
            }
            let blocked = loop.createTask {
                try await loop.runInExecutor(pool) { () throws -> Int in
                    #expect(!loop.isOnLoopThread)
                    try release.require("the loop to tick while this blocks")
                    return 1
                }
            }
            while ticks.value < 5 { try await sleep(0.001) }
            release.signal()
            let second = try await loop.runInExecutor { 2 }
            let first = try await blocked.value
            try await ticker.value
            return ([first, second], ticks.value)
        }
        #expect(results == [1, 2])
        #expect(ticks >= 5)
    }

    @Test("runInExecutor rethrows the function's error; a shut-down pool refuses work")
    func runInExecutorErrors() throws {
        let pool = ThreadPool(threads: 1)
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            await #expect(throws: TestError(code: 4)) {
                try await loop.runInExecutor(pool) { () throws -> Int in throw TestError(code: 4) }
            }
            pool.shutdown()
            await #expect(throws: ThreadPoolError.shutDown) {
                try await loop.runInExecutor(pool) { 1 }
            }
        }
    }
}
