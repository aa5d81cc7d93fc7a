import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `GeneratorContext.yield(from:)`: delegation to a sub-generator, and to a plain sequence.
/// Python: `yield from` (PEP 380); each test follows the CPython test_yield_from case it names,
/// with the same trace, compared exactly.
@Suite("Generator: yield(from:)", .timeLimit(.minutes(5)))
struct GeneratorYieldFromTests {
    typealias G<Returned: Sendable> = Generator<String, Int, Returned>

    @Test("the first and later nexts go to the sub, its yields pass through, then the delegator goes on")
    func delegationOfNext() throws {
        // test_delegation_of_initial_next_to_subgenerator, test_delegation_of_next_call_to_subgenerator
        try run { () async throws -> Void in
            let trace = Trace()
            @Sendable func g2() -> G<Void> {
                Generator { context in
                    trace("Starting g2")
                    try await context.yield("g2 spam")
                    try await context.yield("g2 more spam")
                    trace("Finishing g2")
                }
            }
            let g1 = G<Void> { context in
                trace("Starting g1")
                try await context.yield("g1 ham")
                try await context.yield(from: g2())
                try await context.yield("g1 eggs")
                trace("Finishing g1")
            }
            for try await x in g1 { trace("Yielded \(x)") }
            #expect(trace.all == [
                "Starting g1",
                "Yielded g1 ham",
                "Starting g2",
                "Yielded g2 spam",
                "Yielded g2 more spam",
                "Finishing g2",
                "Yielded g1 eggs",
                "Finishing g1",
            ])
        }
    }

    @Test("sent values reach the sub (nil included) and its return value is yield(from:)'s result")
    func delegationOfSendAndReturnValue() throws {
        // test_delegation_of_send, test_generator_return_value
        try run { () async throws -> Void in
            let trace = Trace()
            @Sendable func g2() -> G<String> {
                Generator { context in
                    trace("Starting g2")
                    let x = try await context.yield("g2 spam")
                    trace("g2 received \(describe(x))")
                    let y = try await context.yield("g2 more spam")
                    trace("g2 received \(describe(y))")
                    trace("Finishing g2")
                    return "\(describe(x)) and \(describe(y))"
                }
            }
            let g1 = G<String> { context in
                trace("Starting g1")
                let x = try await context.yield("g1 ham")
                trace("g1 received \(describe(x))")
                let result = try await context.yield(from: g2())
                trace("g2 returned \(result)")
                let y = try await context.yield("g1 eggs")
                trace("g1 received \(describe(y))")
                trace("Finishing g1")
                return "g1 done"
            }
            #expect(try await g1.send(nil) == .yielded("g1 ham"))
            for value in [1, 2, nil, 4] {
                switch try await g1.send(value) {
                case .yielded(let y): trace("Yielded \(y)")
                case .returned(let r): trace("Returned \(r)")
                }
            }
            #expect(trace.all == [
                "Starting g1",
                "g1 received 1",
                "Starting g2",
                "Yielded g2 spam",
                "g2 received 2",
                "Yielded g2 more spam",
                "g2 received nil",
                "Finishing g2",
                "g2 returned 2 and nil",
                "Yielded g1 eggs",
                "g1 received 4",
                "Finishing g1",
                "Returned g1 done",
            ])
        }
    }

    @Test("an error the sub raises propagates in the delegator at yield(from:), which may catch it")
    func errorInTheSub() throws {
        // test_raising_exception_in_delegated_next_call, test_raising_exception_in_initial_next_call,
        // test_handling_exception_while_delegating_send
        try run { () async throws -> Void in
            let trace = Trace()
            @Sendable func g2(yieldingFirst: Bool) -> G<Void> {
                Generator { context in
                    defer { trace("Finishing g2") }
                    trace("Starting g2")
                    if yieldingFirst { try await context.yield("g2 spam") }
                    throw TestError(code: 1)
                }
            }
            let g1 = G<Void> { context in
                defer { trace("Finishing g1") }
                trace("Starting g1")
                try await context.yield("g1 ham")
                try await context.yield(from: g2(yieldingFirst: true))
                try await context.yield("g1 eggs")
            }
            await #expect(throws: TestError(code: 1)) {
                for try await x in g1 { trace("Yielded \(x)") }
            }
            #expect(trace.all == [
                "Starting g1",
                "Yielded g1 ham",
                "Starting g2",
                "Yielded g2 spam",
                "Finishing g2",
                "Finishing g1",
            ])
            #expect(g1.state == .closed)

            // In the sub's first step, and caught by the delegator, which goes on.
            let catching = Trace()
            let g3 = G<Void> { context in
                do {
                    try await context.yield(from: g2(yieldingFirst: false))
                } catch let error as TestError {
                    catching("g3 caught TestError \(error.code)")
                }
                try await context.yield("g3 eggs")
            }
            #expect(try await g3.send(nil).yieldedValue == "g3 eggs")
            #expect(catching.all == ["g3 caught TestError 1"])
        }
    }

    @Test("throw into the delegator goes to the sub: uncaught, it finishes both, innermost cleanup first")
    func delegatingThrow() throws {
        // test_delegating_throw
        try run { () async throws -> Void in
            let trace = Trace()
            let sub = G<Void> { context in
                defer { trace("Finishing g2") }
                trace("Starting g2")
                try await context.yield("g2 spam")
                try await context.yield("g2 more spam")
            }
            let g1 = G<Void> { context in
                defer { trace("Finishing g1") }
                trace("Starting g1")
                try await context.yield("g1 ham")
                try await context.yield(from: sub)
                try await context.yield("g1 eggs")
            }
            for _ in 0..<2 { trace("Yielded \(try await g1.send(nil).yieldedValue ?? "-")") }
            await #expect(throws: TestError(code: 2)) { try await g1.throw(TestError(code: 2)) }
            #expect(trace.all == [
                "Starting g1",
                "Yielded g1 ham",
                "Starting g2",
                "Yielded g2 spam",
                "Finishing g2",
                "Finishing g1",
            ])
            #expect(sub.state == .closed)
            #expect(g1.state == .closed)
        }
    }

    @Test("a thrown error the sub catches: what it yields next comes back from the delegator's throw")
    func delegatedThrowCaughtBySub() throws {
        // test_returning_value_from_delegated_throw
        try run { () async throws -> Void in
            let trace = Trace()
            let g2 = G<Void> { context in
                trace("Starting g2")
                do {
                    try await context.yield("g2 spam")
                    try await context.yield("g2 more spam")
                } catch is TestError {
                    trace("Caught TestError in g2")
                    try await context.yield("g2 lunch saved")
                    try await context.yield("g2 yet more spam")
                }
            }
            let g1 = G<Void> { context in
                defer { trace("Finishing g1") }
                trace("Starting g1")
                try await context.yield("g1 ham")
                try await context.yield(from: g2)
                try await context.yield("g1 eggs")
            }
            for _ in 0..<2 { trace("Yielded \(try await g1.send(nil).yieldedValue ?? "-")") }
            #expect(try await g1.throw(TestError(code: 3)).yieldedValue == "g2 lunch saved")
            for try await x in g1 { trace("Yielded \(x)") }
            #expect(trace.all == [
                "Starting g1",
                "Yielded g1 ham",
                "Starting g2",
                "Yielded g2 spam",
                "Caught TestError in g2",
                "Yielded g2 yet more spam",
                "Yielded g1 eggs",
                "Finishing g1",
            ])
        }
    }

    @Test("a thrown error the sub catches before returning: yield(from:) returns its value, and the delegator goes on")
    func delegatedThrowSubReturns() throws {
        // test_catching_exception_from_subgen_and_returning
        try run { () async throws -> Void in
            let trace = Trace()
            let inner = G<Int> { context in
                do {
                    try await context.yield("1")
                } catch is TestError {
                    trace("inner caught TestError")
                }
                return 2
            }
            let outer = G<Void> { context in
                let v = try await context.yield(from: inner)
                trace("inner returned \(v) to outer")
                try await context.yield("\(v)")
            }
            trace(try await outer.send(nil).yieldedValue ?? "-")
            trace(try await outer.throw(TestError(code: 4)).yieldedValue ?? "-")
            #expect(trace.all == ["1", "inner caught TestError", "inner returned 2 to outer", "2"])
        }
    }

    @Test("close of the delegator closes the sub first (its cleanup may await), then GeneratorExit reaches the delegator")
    func delegatingClose() throws {
        // test_delegating_close
        try run { () async throws -> Void in
            let trace = Trace()
            let sub = G<Void> { context in
                do {
                    trace("Starting g2")
                    try await context.yield("g2 spam")
                    try await context.yield("g2 more spam")
                } catch let exit as GeneratorExit {
                    trace("g2 got GeneratorExit")
                    try await sleep(0.001)
                    trace("Finishing g2")
                    throw exit
                }
            }
            let g1 = G<Void> { context in
                do {
                    trace("Starting g1")
                    try await context.yield("g1 ham")
                    try await context.yield(from: sub)
                    try await context.yield("g1 eggs")
                } catch {
                    trace("g1 got \(error)")
                    throw error
                }
            }
            for _ in 0..<2 { trace("Yielded \(try await g1.send(nil).yieldedValue ?? "-")") }
            #expect(g1.state == .suspended)
            #expect(sub.state == .suspended)
            try await g1.close()
            #expect(trace.all == [
                "Starting g1",
                "Yielded g1 ham",
                "Starting g2",
                "Yielded g2 spam",
                "g2 got GeneratorExit",
                "Finishing g2",
                "g1 got GeneratorExit",
            ])
            #expect(sub.state == .closed)
            #expect(g1.state == .closed)
        }
    }

    @Test("an error the sub's close throws replaces GeneratorExit in the delegator, and close rethrows it")
    func errorWhileDelegatingClose() throws {
        // test_handing_exception_while_delegating_close
        try run { () async throws -> Void in
            let trace = Trace()
            let sub = G<Void> { context in
                do {
                    try await context.yield("g2 spam")
                } catch is GeneratorExit {
                    trace("Finishing g2")
                    throw TestError(code: 5)
                }
            }
            let g1 = G<Void> { context in
                do {
                    try await context.yield(from: sub)
                } catch {
                    trace("g1 got \(error)")
                    throw error
                }
            }
            try await g1.send(nil)
            await #expect(throws: TestError(code: 5)) { try await g1.close() }
            #expect(trace.all == ["Finishing g2", "g1 got \(TestError(code: 5))"])
            #expect(g1.state == .closed)
        }
    }

    @Test("throw(GeneratorExit()) into the delegator closes the sub: one that returns lets GeneratorExit out, one that yields makes it ignoredGeneratorExit")
    func throwingGeneratorExitIntoTheDelegator() throws {
        // test_throwing_GeneratorExit_into_subgen_that_returns, ..._that_yields, ..._that_raises
        try run { () async throws -> Void in
            let trace = Trace()
            @Sendable func f(onExit: @escaping @Sendable (G<Void>.Context) async throws -> Void) -> G<Void> {
                Generator { context in
                    do {
                        trace("Enter f")
                        try await context.yield("f")
                        trace("Exit f")
                    } catch is GeneratorExit {
                        try await onExit(context)
                    }
                }
            }
            @Sendable func g(_ sub: G<Void>) -> G<Void> {
                Generator { context in
                    trace("Enter g")
                    try await context.yield(from: sub)
                    trace("Exit g")
                }
            }

            let returning = g(f { _ in })
            try await returning.send(nil)
            await #expect(throws: GeneratorExit()) { try await returning.throw(GeneratorExit()) }
            #expect(trace.all == ["Enter g", "Enter f"])
            #expect(returning.state == .closed)

            let yieldingSub = f { context in try await context.yield("f again") }
            let yielding = g(yieldingSub)
            try await yielding.send(nil)
            await #expect(throws: GeneratorError.ignoredGeneratorExit) { try await yielding.throw(GeneratorExit()) }
            #expect(yielding.state == .closed)
            #expect(yieldingSub.state == .suspended, "the sub stays at its new yield, as close leaves it")

            let raising = g(f { _ in throw TestError(code: 6) })
            try await raising.send(nil)
            await #expect(throws: TestError(code: 6)) { try await raising.throw(GeneratorExit()) }
            #expect(trace.all == ["Enter g", "Enter f", "Enter g", "Enter f", "Enter g", "Enter f"])
        }
    }

    @Test("deallocating a delegator suspended in yield(from:) closes the sub first")
    func deallocatedDelegatorClosesTheSub() throws {
        // Python closes a collected generator (test_close_with_cleared_frame collects such a stack).
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let trace = Trace()
            let exited = loop.createFuture(of: Void.self)
            do {
                let delegator = G<Void> { context in
                    let sub = G<Void> { context in
                        do {
                            try await context.yield("sub")
                        } catch let exit as GeneratorExit {
                            trace("sub got GeneratorExit")
                            throw exit
                        }
                    }
                    do {
                        try await context.yield(from: sub)
                    } catch let exit as GeneratorExit {
                        trace("delegator got GeneratorExit, sub \(sub.state)")
                        try exited.setResult(())
                        throw exit
                    }
                }
                #expect(try await delegator.send(nil).yieldedValue == "sub")
            }
            try await bounded { try await exited.value }
            #expect(trace.all == ["sub got GeneratorExit", "delegator got GeneratorExit, sub closed"])
        }
    }

    @Test("three levels: sends and throws reach the innermost, return values come back up, cleanup runs innermost first")
    func nestedDelegation() throws {
        try run { () async throws -> Void in
            let trace = Trace()
            let level3 = G<Int> { context in
                defer { trace("3 finally") }
                trace("3 start")
                let a = try await context.yield("3 a")
                trace("3 got \(describe(a))")
                do {
                    try await context.yield("3 b")
                } catch let error as TestError {
                    trace("3 caught TestError \(error.code)")
                }
                let c = try await context.yield("3 c")
                trace("3 got \(describe(c))")
                return 3
            }
            let level2 = G<Int> { context in
                defer { trace("2 finally") }
                trace("2 start")
                let result = try await context.yield(from: level3)
                trace("2 got return \(result)")
                return result + 20
            }
            let level1 = G<String> { context in
                defer { trace("1 finally") }
                trace("1 start")
                let result = try await context.yield(from: level2)
                trace("1 got return \(result)")
                try await context.yield("1 end")
                return "done"
            }
            #expect(try await level1.send(nil) == .yielded("3 a"))
            #expect(try await level1.send(1) == .yielded("3 b"))
            #expect(level1.state == .suspended && level2.state == .suspended && level3.state == .suspended)
            #expect(try await level1.throw(TestError(code: 2)) == .yielded("3 c"))
            #expect(try await level1.send(4) == .yielded("1 end"))
            #expect(level3.state == .closed && level2.state == .closed)
            #expect(try await level1.send(nil) == .returned("done"))
            #expect(trace.all == [
                "1 start", "2 start", "3 start",
                "3 got 1",
                "3 caught TestError 2",
                "3 got 4",
                "3 finally",
                "2 got return 3",
                "2 finally",
                "1 got return 23",
                "1 finally",
            ])
        }
    }

    @Test("three levels: close of the outermost closes the innermost first, then each delegator in turn")
    func nestedClose() throws {
        try run { () async throws -> Void in
            let trace = Trace()
            @Sendable func level(_ n: Int) -> G<Void> {
                Generator { context in
                    do {
                        if n == 3 {
                            try await context.yield("innermost")
                        } else {
                            try await context.yield(from: level(n + 1))
                        }
                    } catch let exit as GeneratorExit {
                        trace("\(n) got GeneratorExit")
                        throw exit
                    }
                }
            }
            let outermost = level(1)
            #expect(try await outermost.send(nil).yieldedValue == "innermost")
            try await outermost.close()
            #expect(trace.all == ["3 got GeneratorExit", "2 got GeneratorExit", "1 got GeneratorExit"])
            #expect(outermost.state == .closed)
        }
    }

    @Test("a sub that has already started is resumed with nil first, as Python's yield from does")
    func startedSub() throws {
        try run { () async throws -> Void in
            let trace = Trace()
            let sub = G<String> { context in
                trace("sub start")
                let x = try await context.yield("a")
                trace("sub got \(describe(x))")
                let y = try await context.yield("b")
                trace("sub got \(describe(y))")
                return "sub done"
            }
            #expect(try await sub.send(nil) == .yielded("a"))
            let delegator = G<Void> { context in
                let result = try await context.yield(from: sub)
                trace("delegator got \(result)")
            }
            #expect(try await delegator.send(nil).yieldedValue == "b", "\"a\" went to the first driver")
            #expect(try await delegator.send(5).returnValue != nil, "the delegator returned")
            #expect(trace.all == ["sub start", "sub got nil", "sub got 5", "delegator got sub done"])
        }
    }

    @Test("a sub that has finished: yield(from:) throws stopIteration, which the body may catch; let out, it is raisedStopIteration")
    func finishedSub() throws {
        try run { () async throws -> Void in
            let sub = G<Int> { _ in 1 }
            #expect(try await sub.send(nil) == .returned(1))
            let catching = G<Void> { context in
                do {
                    try await context.yield(from: sub)
                } catch GeneratorError.stopIteration {
                    try await context.yield("caught stopIteration")
                }
            }
            #expect(try await catching.send(nil).yieldedValue == "caught stopIteration")
            let lettingOut = G<Void> { context in try await context.yield(from: sub) }
            await #expect(throws: GeneratorError.raisedStopIteration) { try await lettingOut.send(nil) }
        }
    }

    @Test("delegating to a generator that is executing (a yield-from loop) throws alreadyExecuting; a delegator is running while its sub runs")
    func attemptedYieldFromLoop() throws {
        // test_attempted_yield_from_loop, test_delegating_generators_claim_to_be_running
        try run { () async throws -> Void in
            let trace = Trace()
            let box = Locked<G<Void>?>(nil)
            defer { box.withLock { $0 = nil } }  // g1's body holds the box: a cycle
            @Sendable func g2() -> G<Void> {
                Generator { context in
                    trace("g2: starting")
                    try await context.yield("y2")
                    let g1 = box.value!
                    trace("g2: about to yield from g1, which is \(g1.state)")
                    try await context.yield(from: g1)
                    trace("g2 should not be here")
                }
            }
            let g1 = G<Void> { context in
                trace("g1: starting")
                try await context.yield("y1")
                trace("g1: about to yield from g2")
                try await context.yield(from: g2())
                trace("g1 should not be here")
            }
            box.withLock { $0 = g1 }
            await #expect(throws: GeneratorError.alreadyExecuting) {
                for try await y in g1 { trace("Yielded: \(y), g1 is \(g1.state)") }
            }
            #expect(trace.all == [
                "g1: starting",
                "Yielded: y1, g1 is suspended",
                "g1: about to yield from g2",
                "g2: starting",
                "Yielded: y2, g1 is suspended",
                "g2: about to yield from g1, which is running",
            ])
        }
    }

    @Test("cancelling the delegator's driver while the sub runs cancels the sub's body; the cancellation ends both")
    func cancellationReachesTheSub() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let trace = Trace()
            let sleeping = loop.createFuture(of: Void.self)
            let sub = G<Void> { context in
                try await context.yield("sub")
                do {
                    try sleeping.setResult(())
                    try await sleep(3_600)
                } catch {
                    trace("sub got \(type(of: error))")
                    throw error
                }
            }
            let delegator = G<Void> { context in
                do {
                    try await context.yield(from: sub)
                } catch {
                    trace("delegator got \(type(of: error))")
                    throw error
                }
            }
            try await delegator.send(nil)
            let sender = loop.createTask { try await delegator.send(nil) }
            try await bounded { try await sleeping.value }
            sender.cancel()
            try await bounded { await sender.waitUntilDone() }
            #expect(sender.isCancelled, "send threw CancellationError")
            #expect(trace.all == ["sub got CancellationError", "delegator got CancellationError"])
            #expect(sub.state == .closed)
            #expect(delegator.state == .closed)
        }
    }

    @Test("the sub may run on another loop's thread")
    func subOnAnotherLoop() throws {
        let loopThread = try FutureTesting.LoopThread()
        defer { loopThread.shutDown() }
        let other = loopThread.loop
        try run { () async throws -> Void in
            let sub = Generator<Bool, Int, Int>(loop: other) { context in
                var total = 0
                while let n = try await context.yield(other.isOnLoopThread) { total += n }
                return total
            }
            let here = try getRunningLoop()
            let delegator = Generator<Bool, Int, String> { context in
                let total = try await context.yield(from: sub)
                return "total \(total), back on its loop: \(here.isOnLoopThread)"
            }
            #expect(try await delegator.send(nil) == .yielded(true))
            #expect(try await delegator.send(2) == .yielded(true))
            #expect(try await delegator.send(3) == .yielded(true))
            #expect(try await delegator.send(nil) == .returned("total 5, back on its loop: true"))
        }
    }

    // MARK: Sequences

    @Test("yield(from: sequence) yields each element, read only when it is due; nil sends go on")
    func sequence() throws {
        // test_delegation_of_next_to_non_generator, test_conversion_of_sendNone_to_next
        try run { () async throws -> Void in
            let trace = Trace()
            let g = Generator<Int, Int, String> { context in
                try await context.yield(from: (0..<3).lazy.map { n in
                    trace("read \(n)")
                    return n
                })
                try await context.yield(from: [10, 11])
                return "done"
            }
            for try await x in g { trace("Yielded \(x)") }
            #expect(trace.all == ["read 0", "Yielded 0", "read 1", "Yielded 1", "read 2", "Yielded 2", "Yielded 10", "Yielded 11"])

            let h = Generator<Int, Int, String> { context in
                try await context.yield(from: 0..<3)
                return "done"
            }
            #expect(try await h.send(nil) == .yielded(0))
            #expect(try await h.send(nil) == .yielded(1))
            #expect(try await h.send(nil) == .yielded(2))
            #expect(try await h.send(nil) == .returned("done"))
        }
    }

    @Test("yield(from:) an empty sequence yields nothing")
    func emptySequence() throws {
        // test_yield_from_empty
        try run { () async throws -> Void in
            let g = Generator<Int, Int, String> { context in
                try await context.yield(from: [])
                return "empty"
            }
            #expect(try await g.send(nil) == .returned("empty"))
        }
    }

    @Test("a non-nil send to a body in yield(from: sequence) throws nonNilSendToSequence there, and the rest is not read")
    func sendToSequence() throws {
        // test_attempting_to_send_to_non_generator
        try run { () async throws -> Void in
            let trace = Trace()
            let g = Generator<Int, Int, String> { context in
                do {
                    trace("starting g")
                    try await context.yield(from: (0..<3).lazy.map { n in
                        trace("read \(n)")
                        return n
                    })
                    trace("g should not be here")
                } catch {
                    trace("g got \(error)")
                }
                try await context.yield(-1)
                return "finishing g"
            }
            #expect(try await g.send(nil) == .yielded(0))
            #expect(try await g.send(42) == .yielded(-1))
            #expect(try await g.send(nil) == .returned("finishing g"))
            #expect(trace.all == ["starting g", "read 0", "g got \(GeneratorError.nonNilSendToSequence)"])
        }
    }

    @Test("throw into a body in yield(from: sequence) raises the error there at once; close ends it")
    func throwAndCloseWithSequence() throws {
        // test_delegating_throw_to_non_generator, test_delegation_of_close_to_non_generator
        try run { () async throws -> Void in
            let trace = Trace()
            let g = Generator<Int, Int, Void> { context in
                defer { trace("Finishing g") }
                trace("Starting g")
                try await context.yield(from: 0..<10)
            }
            for _ in 0..<5 { trace("Yielded \(try await g.send(nil).yieldedValue ?? -1)") }
            await #expect(throws: TestError(code: 7)) { try await g.throw(TestError(code: 7)) }
            #expect(trace.all == [
                "Starting g",
                "Yielded 0", "Yielded 1", "Yielded 2", "Yielded 3", "Yielded 4",
                "Finishing g",
            ])

            let closing = Trace()
            let h = Generator<Int, Int, Void> { context in
                defer { closing("finishing h") }
                closing("starting h")
                try await context.yield(from: 0..<3)
                closing("h should not be here")
            }
            try await h.send(nil)
            try await h.close()
            #expect(closing.all == ["starting h", "finishing h"])
            #expect(h.state == .closed)
        }
    }
}
