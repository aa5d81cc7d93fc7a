import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `Generator.throw`: the error reaches the body at its `yield`, and what the body does with it
/// comes back; generators that have not started or have finished throw it back; the misuses and
/// cancellation behave as for `send`. Python: `gen.throw(exc)`, from CPython's test_generators
/// ("Now check some throw() conditions", the coroutine tests) and PEP 342.
@Suite("Generator: throw", .timeLimit(.minutes(5)))
struct GeneratorThrowTests {
    @Test("a body that catches the thrown error and yields again: throw returns .yielded, and the generator goes on")
    func caughtAndYieldsAgain() throws {
        try run { () async throws -> Void in
            let trace = Trace()
            let generator = Generator<String, Int, Void> { context in
                var next = "ready"
                while true {
                    do {
                        let n = try await context.yield(next)
                        trace("received \(describe(n))")
                        next = "got \(describe(n))"
                    } catch let error as TestError {
                        trace("caught TestError \(error.code)")
                        next = "recovered from \(error.code)"
                    }
                }
            }
            #expect(try await generator.send(nil).yieldedValue == "ready")
            #expect(try await generator.throw(TestError(code: 1)).yieldedValue == "recovered from 1")
            #expect(generator.state == .suspended)
            #expect(try await generator.send(5).yieldedValue == "got 5")
            #expect(try await generator.throw(TestError(code: 2)).yieldedValue == "recovered from 2")
            #expect(try await generator.send(nil).yieldedValue == "got nil")
            try await generator.close()  // GeneratorExit is not a TestError: it ends the body
            #expect(trace.all == ["caught TestError 1", "received 5", "caught TestError 2", "received nil"])
            #expect(generator.state == .closed)
        }
    }

    @Test("a body that catches the thrown error and returns: throw returns .returned, and the generator has finished")
    func caughtAndReturns() throws {
        try run { () async throws -> Void in
            let generator = Generator<Int, Int, String> { context in
                do {
                    try await context.yield(1)
                } catch let error as TestError {
                    return "returned after \(error.code)"
                }
                return "unreached"
            }
            try await generator.send(nil)
            #expect(try await generator.throw(TestError(code: 3)) == .returned("returned after 3"))
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
        }
    }

    @Test("an error the body lets out is rethrown by throw, after the body's cleanup, and the generator has finished")
    func uncaughtFinishes() throws {
        try run { () async throws -> Void in
            let trace = Trace()
            let generator = Generator<Int, Int, Void> { context in
                defer { trace("cleanup") }
                trace("start")
                try await context.yield(1)
                trace("unreached")
            }
            try await generator.send(nil)
            await #expect(throws: TestError(code: 4)) { try await generator.throw(TestError(code: 4)) }
            #expect(trace.all == ["start", "cleanup"])
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }

            // The body may end with another error instead: that one is rethrown.
            let replacing = Generator<Int, Int, Void> { context in
                do {
                    try await context.yield(1)
                } catch let error as TestError {
                    throw TestError(code: error.code + 100)
                }
            }
            try await replacing.send(nil)
            await #expect(throws: TestError(code: 105)) { try await replacing.throw(TestError(code: 5)) }
            #expect(replacing.state == .closed)
        }
    }

    @Test("throw into a generator that has not started: its body never runs, it has finished, and the error comes back")
    func justCreated() throws {
        try run { () async throws -> Void in
            let ran = LoopConfined(false)
            let generator = Generator<Int, Int, Void> { context in
                ran.value = true
                try await context.yield(1)
            }
            await #expect(throws: TestError(code: 6)) { try await generator.throw(TestError(code: 6)) }
            #expect(generator.state == .closed)
            await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
            try await sleep(0)
            #expect(!ran.value)
        }
    }

    @Test("throw into a generator that has not started needs no loop; stopIteration comes back as raisedStopIteration")
    func justCreatedOffTheLoop() async throws {
        // Python: `f().throw(StopIteration)` raises `RuntimeError: generator raised StopIteration`,
        // the error being raised inside the (not yet run) body.
        let generator = Generator<Int, Int, Void> { context in try await context.yield(1) }
        await #expect(throws: TestError(code: 7)) { try await generator.throw(TestError(code: 7)) }
        #expect(generator.state == .closed)

        let other = Generator<Int, Int, Void> { context in try await context.yield(1) }
        await #expect(throws: GeneratorError.raisedStopIteration) {
            try await other.throw(GeneratorError.stopIteration)
        }
        #expect(other.state == .closed)
    }

    @Test("throw into a finished generator throws the error back, whatever finished it, and it stays finished")
    func finished() throws {
        try run { () async throws -> Void in
            let returned = Generator<Int, Int, Void> { _ in }
            #expect(try await returned.send(nil).returnValue != nil, "it returned")
            let closedBeforeStarting = Generator<Int, Int, Void> { context in try await context.yield(1) }
            try await closedBeforeStarting.close()
            let failed = Generator<Int, Int, Void> { _ in throw TestError(code: 0) }
            await #expect(throws: TestError(code: 0)) { try await failed.send(nil) }

            for generator in [returned, closedBeforeStarting, failed] {
                await #expect(throws: TestError(code: 8)) { try await generator.throw(TestError(code: 8)) }
                // Python re-raises a bare StopIteration thrown into a finished generator as is.
                await #expect(throws: GeneratorError.stopIteration) {
                    try await generator.throw(GeneratorError.stopIteration)
                }
                #expect(generator.state == .closed)
                await #expect(throws: GeneratorError.stopIteration) { try await generator.send(nil) }
            }
        }
    }

    @Test("throw(GeneratorExit()) is not close: a body that yields again comes back .yielded; one that lets it out rethrows it")
    func throwingGeneratorExit() throws {
        try run { () async throws -> Void in
            let stubborn = Generator<Int, Int, Void> { context in
                do {
                    try await context.yield(1)
                } catch is GeneratorExit {
                    try await context.yield(2)
                }
            }
            try await stubborn.send(nil)
            #expect(try await stubborn.throw(GeneratorExit()).yieldedValue == 2)
            #expect(stubborn.state == .suspended)

            let obedient = Generator<Int, Int, Void> { context in try await context.yield(1) }
            try await obedient.send(nil)
            await #expect(throws: GeneratorExit()) { try await obedient.throw(GeneratorExit()) }
            #expect(obedient.state == .closed)
        }
    }

    @Test("stopIteration thrown in and let out of the body becomes raisedStopIteration (PEP 479); caught, it is an ordinary error")
    func throwingStopIteration() throws {
        try run { () async throws -> Void in
            let lettingOut = Generator<Int, Int, Void> { context in try await context.yield(1) }
            try await lettingOut.send(nil)
            await #expect(throws: GeneratorError.raisedStopIteration) {
                try await lettingOut.throw(GeneratorError.stopIteration)
            }
            #expect(lettingOut.state == .closed)

            let catching = Generator<String, Int, Void> { context in
                do {
                    try await context.yield("waiting")
                } catch GeneratorError.stopIteration {
                    try await context.yield("caught stopIteration")
                }
            }
            try await catching.send(nil)
            #expect(try await catching.throw(GeneratorError.stopIteration).yieldedValue == "caught stopIteration")
        }
    }

    @Test("throw while the body executes: alreadyExecuting, from the body itself and from another task; nothing changes")
    func alreadyExecuting() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            // From the body itself (Python: ValueError: generator already executing).
            let me = Locked<Generator<String, Int, Void>?>(nil)
            let reentrant = Generator<String, Int, Void> { context in
                do {
                    try await me.value!.throw(TestError(code: 9))
                    try await context.yield("no error")
                } catch {
                    try await context.yield("\(error)")
                }
            }
            me.withLock { $0 = reentrant }
            defer { me.withLock { $0 = nil } }  // the box made a cycle
            #expect(try await reentrant.send(nil).yieldedValue == "\(GeneratorError.alreadyExecuting)")

            // From another task, while a send waits for the body, and while a throw does.
            let sendStarted = loop.createFuture(of: Void.self)
            let sendGate = loop.createFuture(of: Void.self)
            let throwStarted = loop.createFuture(of: Void.self)
            let throwGate = loop.createFuture(of: Void.self)
            let slow = Generator<Int, Int, Void> { context in
                try sendStarted.setResult(())
                try await sendGate.value
                do {
                    try await context.yield(1)
                } catch let error as TestError {
                    try throwStarted.setResult(())
                    try await throwGate.value
                    try await context.yield(100 + error.code)
                }
            }
            let sending = loop.createTask { try await slow.send(nil).yieldedValue }
            try await bounded { try await sendStarted.value }
            await #expect(throws: GeneratorError.alreadyExecuting) { try await slow.throw(TestError(code: 1)) }
            try sendGate.setResult(())
            #expect(try await sending.value == 1, "the send is unaffected")
            let throwing = loop.createTask { try await slow.throw(TestError(code: 2)).yieldedValue }
            try await bounded { try await throwStarted.value }
            #expect(slow.state == .running)
            await #expect(throws: GeneratorError.alreadyExecuting) { try await slow.throw(TestError(code: 3)) }
            await #expect(throws: GeneratorError.alreadyExecuting) { try await slow.send(nil) }
            await #expect(throws: GeneratorError.alreadyExecuting) { try await slow.close() }
            try throwGate.setResult(())
            #expect(try await throwing.value == 102, "the first throw is unaffected")
        }
    }

    @Test("a task already cancelled cannot throw: CancellationError at once, the error never reaches the body, which is unchanged")
    func alreadyCancelledThrower() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let trace = Trace()
            let generator = Generator<Int, Int, Void> { context in
                do {
                    try await context.yield(1)
                    try await context.yield(2)
                } catch let error as TestError {
                    trace("body got TestError \(error.code)")
                    throw error
                }
            }
            try await generator.send(nil)
            let thrower = loop.createTask { try await generator.throw(TestError(code: 1)).yieldedValue }
            thrower.cancel()  // before it runs
            try await bounded { await thrower.waitUntilDone() }
            #expect(thrower.isCancelled)
            #expect(generator.state == .suspended)
            #expect(try await generator.send(nil).yieldedValue == 2)
            #expect(trace.all == [])
        }
    }

    @Test("cancelling a task waiting in throw cancels the body: throw throws CancellationError and the generator is finished")
    func cancelTheThrower() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let sleeping = loop.createFuture(of: Void.self)
            let trace = Trace()
            let generator = Generator<Int, Int, Void> { context in
                do {
                    try await context.yield(0)
                } catch let error as TestError {
                    trace("caught TestError \(error.code)")
                    do {
                        try sleeping.setResult(())
                        try await sleep(3_600)
                    } catch {
                        trace("body got \(type(of: error))")
                        throw error
                    }
                }
            }
            try await generator.send(nil)
            let thrower = loop.createTask { try await generator.throw(TestError(code: 1)) }
            try await bounded { try await sleeping.value }
            thrower.cancel()
            try await bounded { await thrower.waitUntilDone() }
            #expect(thrower.isCancelled, "throw threw CancellationError")
            #expect(trace.all == ["caught TestError 1", "body got CancellationError"])
            #expect(generator.state == .closed)
            await #expect(throws: TestError(code: 2)) { try await generator.throw(TestError(code: 2)) }
        }
    }
}
