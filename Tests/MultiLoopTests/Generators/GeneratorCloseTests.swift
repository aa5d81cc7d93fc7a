import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `Generator.close()`, deallocation and cancellation: an unfinished generator never leaves a
/// task suspended forever, and nothing hangs. Python: `gen.close()`, `GeneratorExit`, `__del__`.
@Suite("Generator: close, deallocation and cancellation", .timeLimit(.minutes(5)))
struct GeneratorCloseTests {
    @Test("close throws GeneratorExit into a suspended body, waits for its cleanup (which may await), and finishes it")
    func closeSuspended() throws {
        try run { () async throws -> Void in
            let cleaned = LoopConfined(false)
            let generator = Generator<Int, Int, Void> { context in
                do {
                    while true { try await context.yield(1) }
                } catch is GeneratorExit {
                    try await sleep(0.001)
                    cleaned.value = true
                    throw GeneratorExit()
                }
            }
            try await generator.send(nil)
            try await generator.close()
            #expect(cleaned.value)
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
            try await generator.close()  // closing a finished generator does nothing
        }
    }

    @Test("a body that returns on GeneratorExit closes cleanly; one that throws something else makes close rethrow it")
    func closeOutcomes() throws {
        try run { () async throws -> Void in
            let returning = Generator<Int, Int, String> { context in
                do { try await context.yield(1) } catch is GeneratorExit { return "bye" }
                return "unreached"
            }
            try await returning.send(nil)
            try await returning.close()
            #expect(returning.state == .closed)

            let failing = Generator<Int, Int, Void> { context in
                do { try await context.yield(1) } catch is GeneratorExit { throw TestError(code: 4) }
            }
            try await failing.send(nil)
            await #expect(throws: TestError(code: 4)) { try await failing.close() }
            #expect(failing.state == .closed)
        }
    }

    @Test("close of a generator that never started finishes it without running its body")
    func closeCreated() throws {
        try run { () async throws -> Void in
            let ran = LoopConfined(false)
            let generator = Generator<Int, Int, Void> { context in
                ran.value = true
                try await context.yield(1)
            }
            try await generator.close()
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
            try await sleep(0)
            #expect(!ran.value)
        }
    }

    @Test("a body that yields again after GeneratorExit: close throws ignoredGeneratorExit and it stays suspended")
    func ignoredGeneratorExit() throws {
        try run { () async throws -> Void in
            let generator = Generator<Int, Int, Void> { context in
                var exits = 0
                while true {
                    do {
                        try await context.yield(exits)
                    } catch is GeneratorExit {
                        exits += 1
                        if exits == 2 { return }
                    }
                }
            }
            #expect(try await generator.send(nil).yieldedValue == 0)
            await #expect(throws: GeneratorError.ignoredGeneratorExit) { try await generator.close() }
            #expect(generator.state == .suspended)
            #expect(try await generator.send(nil).yieldedValue == 1, "suspended at the new yield")
            try await generator.close()
            #expect(generator.state == .closed)
        }
    }

    @Test("deallocating a suspended generator throws GeneratorExit into its body, which finishes")
    func deallocationCloses() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let exited = loop.createFuture(of: Bool.self)
            let neverStarted = LoopConfined(false)
            do {
                let generator = Generator<Int, Int, Void> { context in
                    do {
                        try await context.yield(1)
                    } catch {
                        try exited.setResult(error is GeneratorExit)
                        throw error
                    }
                }
                try await generator.send(nil)
                _ = Generator<Int, Int, Void> { _ in neverStarted.value = true }
            }
            #expect(try await exited.value, "the body got GeneratorExit")
            try await sleep(0)
            #expect(!neverStarted.value)
        }
    }

    @Test("a deallocated generator that ignores GeneratorExit is reported, and run still ends it")
    func abandonedAndStubborn() throws {
        let log = ErrorLog()
        let endedBy = Locked<String?>(nil)
        try run { () async throws -> Void in
            log.install(on: try getRunningLoop())
            do {
                let generator = Generator<Int, Int, Void> { context in
                    do {
                        while true {
                            do { try await context.yield(1) } catch is GeneratorExit { continue }
                        }
                    } catch {
                        endedBy.withLock { $0 = "\(type(of: error))" }
                        throw error
                    }
                }
                try await generator.send(nil)
            }
            for _ in 0..<10 { try await sleep(0) }
        }
        #expect(log.all.contains { ($0.error as? GeneratorError) == .ignoredGeneratorExit })
        #expect(endedBy.value == "CancellationError", "run cancels the task it leaves suspended")
    }

    @Test("an error a deallocated generator's body throws while closing goes to the exception handler")
    func abandonedAndFailing() throws {
        let log = ErrorLog()
        try run { () async throws -> Void in
            log.install(on: try getRunningLoop())
            do {
                let generator = Generator<Int, Int, Void> { context in
                    do { try await context.yield(1) } catch is GeneratorExit { throw TestError(code: 5) }
                }
                try await generator.send(nil)
            }
            for _ in 0..<10 { try await sleep(0) }
        }
        #expect(log.all.contains { ($0.error as? TestError) == TestError(code: 5) })
    }

    @Test("cancelling a task waiting in send cancels the body: send throws CancellationError and the generator is finished")
    func cancelTheSender() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let sleeping = loop.createFuture(of: Void.self)
            let bodySaw = Locked<String?>(nil)
            let generator = Generator<Int, Int, Void> { context in
                try await context.yield(0)
                do {
                    try sleeping.setResult(())
                    try await sleep(3_600)
                } catch {
                    bodySaw.withLock { $0 = "\(type(of: error))" }
                    throw error
                }
            }
            try await generator.send(nil)
            let sender = loop.createTask { try await generator.send(1) }
            try await sleeping.value
            sender.cancel()
            await sender.waitUntilDone()
            #expect(sender.isCancelled, "send threw CancellationError")
            #expect(bodySaw.value == "CancellationError")
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(2) }
        }
    }

    @Test("a task already cancelled cannot send: CancellationError at once, and the generator is unchanged")
    func alreadyCancelledSender() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let generator = Generator<Int, Int, Void> { context in
                try await context.yield(1)
                try await context.yield(2)
            }
            try await generator.send(nil)
            let sender = loop.createTask { try await generator.send(nil).yieldedValue }
            sender.cancel()  // before it runs
            await sender.waitUntilDone()
            #expect(sender.isCancelled)
            #expect(generator.state == .suspended)
            #expect(try await generator.send(nil).yieldedValue == 2)
        }
    }

    @Test("a body whose task is cancelled cannot yield: the value is not handed over and send throws CancellationError")
    func cancelledBodyCannotYield() throws {
        try run { () async throws -> Void in
            let generator = Generator<Int, Int, Void> { context in
                withUnsafeCurrentTask { $0?.cancel() }
                try await context.yield(1)
            }
            await #expect(throws: CancellationError.self) { try await generator.send(nil) }
            #expect(generator.state == .closed)
        }
    }

    @Test("run ends a generator left suspended: its body gets CancellationError at its yield, nothing hangs")
    func runCleansUpSuspendedGenerators() throws {
        let kept = Locked<Generator<Int, Int, Void>?>(nil)
        let bodySaw = Locked<String?>(nil)
        try run { () async throws -> Void in
            let generator = Generator<Int, Int, Void> { context in
                do {
                    try await context.yield(1)
                } catch {
                    bodySaw.withLock { $0 = "\(type(of: error))" }
                    throw error
                }
            }
            try await generator.send(nil)
            kept.withLock { $0 = generator }  // still referenced: not deallocated
        }
        #expect(bodySaw.value == "CancellationError")
        let generator = try #require(kept.value)
        #expect(generator.state == .closed)
    }
}
