import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// asyncio.timeout / timeout_at as `withTimeout(_:_:)` / `withTimeout(at:_:)`, and wait_for.
/// Deadlines are either long (an hour: never reached) or already due, so no assertion depends
/// on how fast the machine is.
@Suite("Timeout scopes (asyncio.timeout) and waitFor", .timeLimit(.minutes(5)))
struct TimeoutScopeTests {
    // CPython test_timeouts: test_timeout_basic, test_waiter_cancelled, test_timeout_zero.
    @Test("an expired scope cancels its body, lets it clean up, throws TimeoutError, and says it expired")
    func expires() throws {
        let cleanedUp = Locked(false)
        try run { () async throws -> Void in
            let scope = Locked<Timeout?>(nil)
            await #expect(throws: TimeoutError.self) {
                try await withTimeout(0) { cm in
                    scope.withLock { $0 = cm }
                    do { try await sleep(3_600) } catch { cleanedUp.withLock { $0 = true }; throw error }
                }
            }
            let cm = try #require(scope.value)
            #expect(cm.isExpired)
            #expect(cm.description == "<Timeout [expired]>")
        }
        #expect(cleanedUp.value)
    }

    // CPython test_timeouts: test_timeout_at_basic, test_timeout_in_the_past_sleep_zero,
    // test_timeout_zero_sleep_zero.
    @Test("withTimeout(at:) keeps its deadline; one in the past expires at the body's first suspension")
    func timeoutAt() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let deadline = loop.time() - 11
            let seen = Locked<Double?>(nil)
            let ranUntil = Locked<[String]>([])
            await #expect(throws: TimeoutError.self) {
                try await withTimeout(at: deadline) { cm in
                    seen.withLock { $0 = cm.when }
                    ranUntil.withLock { $0.append("before sleep(0)") }
                    try await sleep(0)
                    ranUntil.withLock { $0.append("after sleep(0)") }
                }
            }
            #expect(seen.value == deadline)
            #expect(ranUntil.value == ["before sleep(0)"])
        }
    }

    // CPython test_timeouts: test_timeout_not_called, test_timeout_disabled,
    // test_timeout_at_disabled, test_repr_active, test_repr_disabled, test_repr_finished.
    @Test("a scope that does not expire returns the body's value; nil means no deadline")
    func notExpired() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let t0 = loop.time()
            let kept = Locked<Timeout?>(nil)
            let value = try await withTimeout(3_600) { cm in
                kept.withLock { $0 = cm }
                #expect(cm.description.hasPrefix("<Timeout [active] when="))
                try await sleep(0)
                return 5
            }
            #expect(value == 5)
            let cm = try #require(kept.value)
            #expect(!cm.isExpired)
            #expect(try #require(cm.when) > t0)
            #expect(cm.description == "<Timeout [finished]>")
            let none = try await withTimeout(nil) { cm in
                #expect(cm.description == "<Timeout [active] when=None>")
                return cm.when
            }
            #expect(none == nil)
            #expect(try await withTimeout(at: nil) { cm in cm.when } == nil)
        }
    }

    // CPython test_timeouts: test_foreign_exception_passed, test_foreign_exception_on_timeout.
    @Test("another error passes through, whether or not the deadline passed")
    func foreignErrors() throws {
        try run { () async throws -> Void in
            await #expect(throws: TestError(code: 1)) {
                try await withTimeout(3_600) { _ in throw TestError(code: 1) }
            }
            await #expect(throws: TestError(code: 2)) {
                try await withTimeout(0) { _ in
                    do { try await sleep(3_600) } catch { throw TestError(code: 2) }
                }
            }
        }
    }

    // CPython test_timeouts: test_foreign_cancel_doesnt_timeout_if_not_expired,
    // test_outer_task_is_not_cancelled.
    @Test("a cancel from outside is not turned into TimeoutError; an expiry leaves the task not cancelled")
    func outsideCancelAndOuterTask() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let cancelled = loop.createTask { () async throws -> Void in
                try await withTimeout(3_600) { _ in
                    currentTask()?.cancel()
                    try await sleep(3_600)
                }
            }
            await #expect(throws: CancelledError.self) { try await cancelled.value }

            let outer = loop.createTask { () async throws -> [Int] in
                let counts = Locked<[Int]>([])
                do {
                    try await withTimeout(0) { _ in
                        do { try await sleep(3_600) } catch {
                            counts.withLock { $0.append(currentTask()?.cancelling() ?? -1) }  // the scope's cancel, counted
                            throw error
                        }
                    }
                } catch is TimeoutError {
                    counts.withLock { $0.append(currentTask()?.cancelling() ?? -1) }  // withdrawn at the exit
                }
                try await sleep(0)  // not cancelled for Swift either
                return counts.value
            }
            #expect(try await outer.value == [1, 0])
            #expect(!outer.isCancelled)
        }
    }

    // CPython test_timeouts: test_nested_timeouts.
    @Test("nested scopes expiring together: only the outer one throws TimeoutError")
    func nested() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let innerSaw = Locked<String?>(nil)
            let deadline = loop.time()
            let scopes = Locked<[Timeout]>([])
            await #expect(throws: TimeoutError.self) {
                try await withTimeout(at: deadline) { cm1 in
                    scopes.withLock { $0.append(cm1) }
                    do {
                        try await withTimeout(at: deadline) { cm2 in
                            scopes.withLock { $0.append(cm2) }
                            try await sleep(3_600)
                        }
                    } catch {
                        innerSaw.withLock { $0 = "\(type(of: error))" }
                        throw error
                    }
                }
            }
            #expect(innerSaw.value == "CancellationError")
            #expect(scopes.value.map(\.isExpired) == [true, true])
        }
    }

    // CPython test_timeouts: test_reschedule, test_timeout_finished.
    @Test("reschedule moves the deadline, from another task; after the end it is refused")
    func reschedule() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let entered = loop.createFuture(of: Timeout.self)
            let deadline1 = loop.time() + 3_600
            let deadline2 = deadline1 + 20
            let task = loop.createTask { () async throws -> Void in
                try await withTimeout(at: deadline1) { cm in
                    try entered.setResult(cm)
                    try await sleep(3_600 * 2)
                }
            }
            let cm = try await entered.value
            #expect(cm.when == deadline1)
            try cm.reschedule(deadline2)
            #expect(cm.when == deadline2)
            try cm.reschedule(nil)
            #expect(cm.when == nil)
            task.cancel()
            await #expect(throws: CancelledError.self) { try await task.value }
            #expect(!cm.isExpired)
            #expect(throws: TimeoutScopeError.exited) { try cm.reschedule(loop.time()) }

            // Rescheduling into the past expires the scope.
            await #expect(throws: TimeoutError.self) {
                try await withTimeout(3_600) { cm in
                    try cm.reschedule(loop.time() - 1)
                    #expect(throws: TimeoutScopeError.expired) { try cm.reschedule(nil) }
                    try await sleep(3_600)
                }
            }
        }
    }

    // CPython test_waitfor: test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started,
    // test_wait_for_timeout_less_then_0_or_0_future_done, test_wait_for_timeout_less_then_0_or_0.
    @Test("waitFor with a timeout of zero or less never starts the operation; a done future returns")
    func waitForNonPositive() throws {
        let started = Locked(0)
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            for timeout in [0, -1, -Double.infinity] {
                await #expect(throws: TimeoutError.self) {
                    try await waitFor(timeout) { () async throws -> Int in started.withLock { $0 += 1 }; return 1 }
                }
            }
            let done = loop.createFuture(of: String.self)
            try done.setResult("done")
            #expect(try await waitFor(0, done) == "done")
            let pending = loop.createTask { () async throws -> Int in try await sleep(3_600); return 1 }
            await #expect(throws: TimeoutError.self) { try await waitFor(-1, pending) }
            #expect(pending.isCancelled, "the pending task was cancelled and waited for")
        }
        #expect(started.value == 0)
    }

    // CPython test_waitfor: test_wait_for (a future that overruns is cancelled),
    // test_wait_for_with_global_loop, test_wait_for_race_condition (a future done in time).
    @Test("waitFor on a future: its value in time; on expiry it is cancelled and waited for")
    func waitForFuture() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let quick = loop.createTask { () async throws -> Int in try await sleep(0); return 7 }
            #expect(try await waitFor(3_600, quick) == 7)
            let events = Locked<[String]>([])
            let slow = loop.createTask { () async throws -> Int in
                do { try await sleep(3_600) } catch {
                    events.withLock { $0.append("slow cleaned up") }
                    throw error
                }
                return 0
            }
            let scope = loop.createTask { () async throws -> Int in
                try await withTimeout(0) { _ in try await waitFor(3_600, slow) }
            }
            await #expect(throws: TimeoutError.self) { try await scope.value }
            events.withLock { $0.append("waitFor ended") }
            #expect(slow.isCancelled)
            #expect(events.value == ["slow cleaned up", "waitFor ended"])
        }
    }
}
