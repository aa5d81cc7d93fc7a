import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `Generator`: priming with `send(nil)`, `send` returning the next yielded value, the return
/// value at the end, the body's errors, and every misuse of `send` (Python's `StopIteration`,
/// `TypeError`, `ValueError`).
@Suite("Generator: send", .timeLimit(.minutes(5)))
struct GeneratorSendTests {
    /// Yields its running total, adds what it is sent, returns the total when sent nil.
    static func accumulator() -> Generator<Int, Int, Int> {
        Generator { generator in
            var total = 0
            while true {
                guard let n = try await generator.yield(total) else { return total }
                total += n
            }
        }
    }

    @Test("send(nil) primes the body up to its first yield; send(v) resumes it with v and returns the next yielded value")
    func primeAndSend() throws {
        try run { () async throws -> Void in
            let ran = LoopConfined(false)
            let generator = Generator<String, Int, Void> { context in
                ran.value = true
                let first = try await context.yield("ready")
                let second = try await context.yield("got \(first.map(String.init) ?? "nil")")
                _ = try await context.yield("got \(second.map(String.init) ?? "nil")")
            }
            try await sleep(0)
            #expect(!ran.value, "creating a generator runs nothing")
            #expect(generator.state == .created)
            #expect(try await generator.send(nil).yieldedValue == "ready")
            #expect(ran.value)
            #expect(generator.state == .suspended)
            #expect(try await generator.send(5).yieldedValue == "got 5")
            #expect(try await generator.send(nil).yieldedValue == "got nil", "send(nil) is next(gen)")
        }
    }

    @Test("the body's return value comes back as .returned; then send throws stopIteration")
    func returnValueThenStopIteration() throws {
        try run { () async throws -> Void in
            let generator = Self.accumulator()
            #expect(try await generator.send(nil) == .yielded(0))
            #expect(try await generator.send(3) == .yielded(3))
            #expect(try await generator.send(4) == .yielded(7))
            let end = try await generator.send(nil)
            #expect(end == .returned(7))
            #expect(end.returnValue == 7 && end.yieldedValue == nil)
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(1) }
        }
    }

    @Test("a body that returns without yielding: the first send returns .returned")
    func returnsWithoutYielding() throws {
        try run { () async throws -> Void in
            let generator = Generator<Int, Int, String> { _ in "empty" }
            #expect(try await generator.send(nil) == .returned("empty"))
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
        }
    }

    @Test("a non-nil send to a just-started generator is refused and changes nothing")
    func nonNilToJustStarted() throws {
        try run { () async throws -> Void in
            let ran = LoopConfined(false)
            let generator = Generator<Int, Int, Void> { context in
                ran.value = true
                try await context.yield(1)
            }
            await #expect(throws: GeneratorError.nonNilSendToJustStarted) { try await generator.send(5) }
            #expect(!ran.value)
            #expect(generator.state == .created)
            #expect(try await generator.send(nil).yieldedValue == 1, "it can still be primed")
        }
    }

    @Test("an error the body throws is rethrown by send, and the generator is finished")
    func bodyErrorIsRethrown() throws {
        try run { () async throws -> Void in
            let generator = Generator<Int, Int, Void> { context in
                try await context.yield(1)
                throw TestError(code: 7)
            }
            try await generator.send(nil)
            await #expect(throws: TestError(code: 7)) { try await generator.send(nil) }
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
        }
    }

    @Test("stopIteration escaping the body (from another generator) becomes raisedStopIteration (PEP 479)")
    func stopIterationInsideTheBody() throws {
        try run { () async throws -> Void in
            let inner = Generator<Int, Int, Void> { _ in }
            try await inner.send(nil)  // returns at once: finished
            let outer = Generator<Int, Int, Void> { context in
                try await context.yield(try await inner.send(nil).yieldedValue ?? -1)
            }
            await #expect(throws: GeneratorError.raisedStopIteration) { try await outer.send(nil) }
            await #expect(throws: GeneratorError.stopIteration) { try await outer.send(nil) }
        }
    }

    @Test("send while the body executes: alreadyExecuting, from the body itself and from another task")
    func alreadyExecuting() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            // From the body itself (Python: ValueError: generator already executing).
            let me = Locked<Generator<String, Int, Void>?>(nil)
            let reentrant = Generator<String, Int, Void> { context in
                do {
                    try await me.value!.send(nil)
                    try await context.yield("no error")
                } catch {
                    try await context.yield("\(error)")
                }
            }
            me.withLock { $0 = reentrant }
            defer { me.withLock { $0 = nil } }  // the box made a cycle
            #expect(try await reentrant.send(nil).yieldedValue == "\(GeneratorError.alreadyExecuting)")

            // From another task while a send waits for the body.
            let started = loop.createFuture(of: Void.self)
            let gate = loop.createFuture(of: Void.self)
            let slow = Generator<Int, Int, Void> { context in
                try started.setResult(())
                try await gate.value
                try await context.yield(1)
            }
            let first = loop.createTask { try await slow.send(nil).yieldedValue }
            try await started.value
            #expect(slow.state == .running)
            await #expect(throws: GeneratorError.alreadyExecuting) { try await slow.send(nil) }
            await #expect(throws: GeneratorError.alreadyExecuting) { try await slow.close() }
            try gate.setResult(())
            #expect(try await first.value == 1, "the first send is unaffected")
        }
    }

    @Test("a context used outside its body's execution throws notExecuting")
    func escapedContext() throws {
        try run { () async throws -> Void in
            let escaped = Locked<GeneratorContext<Int, Int>?>(nil)
            let generator = Generator<Int, Int, Void> { context in
                escaped.withLock { $0 = context }
                try await context.yield(1)
            }
            try await generator.send(nil)
            let context = try #require(escaped.value)
            await #expect(throws: GeneratorError.notExecuting) { try await context.yield(2) }
            #expect(generator.state == .suspended, "the misuse changed nothing")
            #expect(try await generator.send(nil).returnValue != nil, "the body returned")
            await #expect(throws: GeneratorError.notExecuting) { try await context.yield(3) }
        }
    }

    @Test("send off any loop: the body runs on the generator's loop; without one, noRunningLoop")
    func drivenFromOffTheLoop() async throws {
        let orphan = Generator<Int, Int, Void> { context in try await context.yield(1) }
        await #expect(throws: EventLoopError.noRunningLoop) { try await orphan.send(nil) }
        #expect(orphan.state == .created)

        let loopThread = try FutureTesting.LoopThread()
        defer { loopThread.shutDown() }
        let loop = loopThread.loop
        let generator = Generator<Bool, Int, Int>(loop: loop, name: "summing") { context in
            var total = 0
            while true {
                guard let n = try await context.yield(loop.isOnLoopThread) else { return total }
                total += n
            }
        }
        #expect(try await generator.send(nil) == .yielded(true))
        #expect(try await generator.send(2) == .yielded(true))
        #expect(try await generator.send(3) == .yielded(true))
        #expect(try await generator.send(nil) == .returned(5))
    }

    @Test("a generator on a closed loop refuses to start")
    func closedLoop() async throws {
        let loop = try EventLoop()
        try loop.close()
        let generator = Generator<Int, Int, Void>(loop: loop) { context in try await context.yield(1) }
        await #expect(throws: EventLoopError.closed) { try await generator.send(nil) }
        #expect(generator.state == .created)
    }

    // A task cancelled before its body started never runs it (asyncio's rule for tasks): the
    // generator must still tell its driver.
    @Test("a driver cancelled before the body's task started gets the cancellation, not a hang")
    func driverCancelledBeforeBodyStarted() throws {
        // A loop of our own, not `run`: a driver left hanging must fail the expectations below,
        // not make `run` wait for it at its end.
        let loop = try EventLoop()
        let ran = Locked(false)
        let generator = Generator<Int, Int, Void>(loop: loop) { context in
            ran.withLock { $0 = true }
            _ = try await context.yield(1)
        }
        let check = loop.createTask { () async -> (told: Bool, cancelled: Bool) in
            // Eager: `send` runs now, makes the body's task (queued for the next iteration)
            // and suspends; the cancel then reaches the body's task before it starts.
            let driver = loop.createTask(eager: true) { try await generator.send(nil) }
            driver.cancel()
            // Bounded: about 5 s for a driver that is never told.
            for _ in 0..<5_000 where !driver.isDone { try? await Task.sleep(for: .milliseconds(1)) }
            return (driver.isDone, driver.isCancelled)
        }
        let outcome = try loop.runUntilComplete(check.future)
        _ = try loop.close()
        #expect(outcome.told, "the driver was never told")
        #expect(outcome.cancelled)
        #expect(!ran.value)
        #expect(generator.state == .closed)
    }
}
