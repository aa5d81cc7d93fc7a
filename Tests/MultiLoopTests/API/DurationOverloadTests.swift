import Testing
@testable import MultiLoop

/// Every delay and timeout of the public API also takes a `Duration` (docs/api-guidelines.md):
/// each overload converts with `Duration.inSeconds` and calls the seconds-as-`Double` form. These
/// tests run each overload for real and check what it did against the loop's own clock
/// (`loop.time()`): a deadline is the time of the call plus the delay, and a timer never fires
/// before its deadline. Nothing here depends on how fast the machine is: long delays are an
/// hour (never reached), short ones are only required to have passed, and `.zero` behaves as 0.
@Suite("Duration overloads of delays and timeouts", .timeLimit(.minutes(5)))
struct DurationOverloadTests {
    static let hour = Duration.seconds(3_600)

    @Test("Duration.inSeconds: the one conversion, exact for whole, fractional, zero and negative durations")
    func conversion() {
        #expect(Duration.zero.inSeconds == 0)
        #expect(Duration.seconds(2).inSeconds == 2)
        #expect(Duration.milliseconds(1_500).inSeconds == 1.5)
        #expect(Duration.microseconds(250).inSeconds == 0.000_25)
        #expect(Duration.nanoseconds(1).inSeconds == 1e-9)
        #expect(Duration.milliseconds(-1_500).inSeconds == -1.5)
        #expect(Self.hour.inSeconds == 3_600)
    }

    @Test("callLater(Duration) sets its deadline delay after the call and fires no earlier; the argument form too")
    func callLater() async throws {
        struct Seen: Sendable {
            var before = 0.0, after = 0.0, when = 0.0, firedAt = 0.0
            var argumentWhen = 0.0, argument = 0, argumentFiredAt = 0.0
        }
        let seen = try await offThePool { () -> Result<Seen, any Error> in
            Result {
                let loop = try EventLoop()
                defer { _ = try? loop.close() }
                let fired = loop.createFuture(of: Double.self)
                let argumentFired = loop.createFuture(of: Int.self)
                let firedAt = Locked(0.0)
                var seen = Seen()
                seen.before = loop.time()
                let timer = try loop.callLater(.milliseconds(20)) { try fired.setResult(loop.time()) }
                let withArgument = try loop.callLater(.zero, { (value: Int) in
                    firedAt.withLock { $0 = loop.time() }
                    try argumentFired.setResult(value)
                }, 7)
                seen.after = loop.time()
                seen.when = timer.when
                seen.argumentWhen = withArgument.when
                seen.firedAt = try loop.runUntilComplete(fired)
                seen.argument = try loop.runUntilComplete(argumentFired)
                seen.argumentFiredAt = firedAt.value
                return seen
            }
        }.get()
        #expect(seen.when >= seen.before + 0.02 && seen.when <= seen.after + 0.02)
        #expect(seen.firedAt >= seen.when)
        #expect(seen.argumentWhen >= seen.before && seen.argumentWhen <= seen.after)
        #expect(seen.argument == 7)
        #expect(seen.argumentFiredAt >= seen.argumentWhen)
    }

    @Test("schedule(after: Duration) runs the body no earlier than the delay and delivers its value")
    func scheduleAfter() async throws {
        let (before, ranAt, value) = try await offThePool { () -> Result<(Double, Double, Int), any Error> in
            Result {
                let loop = try EventLoop()
                defer { _ = try? loop.close() }
                let ranAt = Locked(0.0)
                let before = loop.time()
                let future = try loop.schedule(after: .milliseconds(10)) { () -> Int in
                    ranAt.withLock { $0 = loop.time() }
                    return 42
                }
                let value = try loop.runUntilComplete(future)
                return (before, ranAt.value, value)
            }
        }.get()
        #expect(value == 42)
        #expect(ranAt >= before + 0.01)
    }

    @Test("Future.wait(timeout: Duration): .zero only checks, a short timeout times out with its seconds, a long one gets the value")
    func futureWait() async throws {
        let outcomes = await offThePool { () -> [String] in
            var outcomes: [String] = []
            do {
                let loop = try EventLoop()
                defer { _ = try? loop.close() }
                let pending = loop.createFuture(of: Int.self)
                for timeout in [Duration.zero, .milliseconds(-5), .milliseconds(10)] {
                    do {
                        outcomes.append("value \(try pending.wait(timeout: timeout))")
                    } catch {
                        outcomes.append("\(error as? FutureWaitError == .timedOut(seconds: timeout.inSeconds))")
                    }
                }
                let later = loop.createFuture(of: Int.self)
                let setter = JoinableThread { try! later.setResult(5) }
                defer { setter.join() }
                outcomes.append("value \(try later.wait(timeout: Self.hour))")
                outcomes.append("value \(try later.wait(timeout: .zero))")  // done: returns at once
            } catch {
                outcomes.append("unexpected \(error)")
            }
            return outcomes
        }
        #expect(outcomes == ["true", "true", "true", "value 5", "value 5"])
    }

    @Test("sleep(Duration) on a loop resumes no earlier than its delay; sleep(.zero) yields to the loop exactly once")
    func sleepOverload() async throws {
        let (slept, order) = try await ExecutorTesting.onNewLoop { () async throws -> (Bool, [String]) in
            let loop = try getRunningLoop()
            let before = loop.time()
            try await EventLoop.sleep(.milliseconds(10))
            let slept = loop.time() >= before + 0.01
            let order = Locked([String]())
            try loop.callSoon { order.withLock { $0.append("callback") } }
            try await EventLoop.sleep(.zero)
            order.withLock { $0.append("resumed") }
            return (slept, order.value)
        }
        #expect(slept)
        #expect(order == ["callback", "resumed"])
    }

    @Test("withTimeout(Duration): .zero expires at the body's first suspension with TimeoutError(seconds: 0); an hour sets that deadline")
    func timeoutScope() async throws {
        let (error, ranUntil, value, whenOK) = try await ExecutorTesting.onNewLoop {
            () async throws -> (TimeoutError?, [String], Int, Bool) in
            let loop = try getRunningLoop()
            let ranUntil = Locked([String]())
            var caught: TimeoutError?
            do {
                try await withTimeout(.zero) { _ in
                    ranUntil.withLock { $0.append("started") }
                    try await EventLoop.sleep(3_600)
                    ranUntil.withLock { $0.append("slept") }
                }
            } catch let error as TimeoutError {
                caught = error
            }
            let before = loop.time()
            let when = Locked<Double?>(nil)
            let value = try await withTimeout(Self.hour) { cm -> Int in
                when.withLock { $0 = cm.when }
                return 7
            }
            let after = loop.time()
            let whenOK = when.value.map { $0 >= before + 3_600 && $0 <= after + 3_600 } ?? false
            return (caught, ranUntil.value, value, whenOK)
        }
        #expect(error == TimeoutError(seconds: 0))
        #expect(ranUntil == ["started"])
        #expect(value == 7)
        #expect(whenOK)
    }

    @Test("waitFor(Duration, operation): .zero never starts it and throws TimeoutError; an hour returns its value")
    func waitForOperation() async throws {
        let (timedOut, started, value) = try await ExecutorTesting.onNewLoop { () async throws -> (Bool, Bool, Int) in
            let started = Locked(false)
            var timedOut = false
            do {
                _ = try await waitFor(.zero) { () async throws -> Int in
                    started.withLock { $0 = true }
                    return 1
                }
            } catch let error as TimeoutError {
                timedOut = error == TimeoutError(seconds: 0)
            }
            let value = try await waitFor(Self.hour) { () async throws -> Int in 5 }
            return (timedOut, started.value, value)
        }
        #expect(timedOut)
        #expect(!started)
        #expect(value == 5)
    }

    @Test("waitFor(Duration, future): .zero cancels a pending future and throws TimeoutError; a done one returns its value")
    func waitForFuture() async throws {
        let (timedOut, cancelled, value) = try await ExecutorTesting.onNewLoop { () async throws -> (Bool, Bool, Int) in
            let loop = try getRunningLoop()
            let pending = loop.createFuture(of: Int.self)
            var timedOut = false
            do {
                _ = try await waitFor(.zero, pending)
            } catch is TimeoutError {
                timedOut = true
            }
            let done = loop.createFuture(of: Int.self)
            try done.setResult(3)
            let value = try await waitFor(Self.hour, done)
            return (timedOut, pending.isCancelled, value)
        }
        #expect(timedOut)
        #expect(cancelled)
        #expect(value == 3)
    }

    @Test("shutdownDefaultExecutor(timeout: Duration): .zero times out on a running job and reports 0 seconds; an hour waits for the join")
    func shutdownDefaultExecutor() async throws {
        let pool = ThreadPool(threads: 1, name: "t-duration")
        let gate = ExecutorTesting.Gate()
        let (first, errors, second, value) = try await ExecutorTesting.onNewLoop {
            () async throws -> (DefaultExecutorShutdown, [TimeoutError?], DefaultExecutorShutdown, Int) in
            let loop = try getRunningLoop()
            let log = ErrorLog()
            log.install(on: loop)
            try loop.setDefaultExecutor(pool)
            let running = try await ExecutorTesting.startHeldJob(on: loop, until: gate)
            // The job cannot end before the gate opens, which is after this call returns.
            let first = try await loop.shutdownDefaultExecutor(timeout: .zero)
            let errors = log.all.map { $0.error as? TimeoutError }
            gate.signal()
            let second = try await loop.shutdownDefaultExecutor(timeout: Self.hour)
            return (first, errors, second, try await running.value)
        }
        await offThePool { pool.shutdown() }
        #expect(first == .timedOut)
        #expect(errors == [TimeoutError(seconds: 0)])
        #expect(second == .joined)
        #expect(value == 1)
    }

    @Test("syncShutdownGracefully(gracePeriod: .zero) abandons a task that ignores its cancellation")
    func syncShutdownGracePeriod() async throws {
        let group = try LoopGroup(loops: 1, name: "dur-sync")
        let release = Locked(false)
        let started = ExecutorTesting.Gate()
        let stubborn = try group.submitTask { () async -> Int in
            started.signal()
            while !release.value {
                await Task.yield()  // swallows the cancellation; keeps its loop running
                try? await EventLoop.sleep(.milliseconds(1))
            }
            return 9
        }
        try await offThePool { Result { try started.require("the stubborn task to start") } }.get()
        let handled = Locked([String]())
        group.loops[0].setExceptionHandler { _, context in handled.withLock { $0.append(context.message) } }
        let report = try await offThePool { Result { try group.syncShutdownGracefully(gracePeriod: .zero) } }.get()
        #expect(report.tasksCancelled == 1)
        #expect(report.tasksAbandoned == 1)
        #expect(handled.value.contains { $0.contains("grace period") })
        release.withLock { $0 = true }
        #expect(try await pollUntilDone(stubborn) == 9)
    }

    @Test("shutdownGracefully(gracePeriod: Duration) async, from a task of another group, lets a cancelled task finish")
    func asyncShutdownGracePeriod() async throws {
        let group = try LoopGroup(loops: 1, name: "dur-async")
        let caller = try LoopGroup(loops: 1, name: "dur-caller")
        _ = try group.submitTask { () async throws -> Int in try await EventLoop.sleep(Self.hour); return 0 }
        let report = try await offThePool {
            Result {
                try caller.submitTask { () async throws -> LoopGroupShutdownReport in
                    try await group.shutdownGracefully(gracePeriod: Self.hour)
                }.wait(timeout: 60)
            }
        }.get()
        #expect(report.tasksCancelled == 1)
        #expect(report.tasksAbandoned == 0)
        #expect(group.isShutDown)
        _ = try await offThePool { Result { try caller.syncShutdownGracefully() } }.get()
    }
}
