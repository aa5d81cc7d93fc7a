import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `withLoopTaskGroup`, asyncio's `TaskGroup`: each test is a CPython test of
/// Lib/test/test_asyncio/test_taskgroups.py (named above it), with asyncio's expectations.
///
/// Every scenario runs with `run` on a thread of its own (`TaskGroupTesting.runOnItsOwnThread`)
/// and returns what it saw; the expectations are checked outside the loop. A task that the group
/// should cancel sleeps `longSleep` seconds: if it is not cancelled, the scenario ends that much
/// later and an expectation fails.
@Suite("withLoopTaskGroup (asyncio.TaskGroup)", .timeLimit(.minutes(5)))
struct LoopTaskGroupTests {
    static let longSleep = 10.0

    /// Sleeps `longSleep`; appends `name` to `log` if the sleep is cancelled, and rethrows.
    static func sleepLogging(_ name: String, to log: Locked<[String]>) async throws {
        do {
            try await sleep(longSleep)
        } catch {
            log.withLock { $0.append(name) }
            throw error
        }
    }

    static func codes(_ error: (any Error)?) -> [Int]? {
        (error as? TaskGroupError)?.errors.map { ($0 as? TestError)?.code ?? -1 }
    }

    // test_taskgroup_01, test_taskgroup_task_name, test_name.
    @Test("children are named tasks of the loop, run on its thread, listed by allTasks(); the exit waits for them; their results are read after")
    func childrenCompleteAndResultsAreRead() async throws {
        struct Seen: Sendable {
            var results: [Int]; var names: [String]; var listed: Set<String>
            var onLoopThread: [Bool]; var cancelledAfter: Bool
        }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let onLoop = Locked<[Bool]>([])
            let listed = Locked<Set<String>>([])
            let (t1, t2) = try await withLoopTaskGroup { group in
                let t1 = try group.createTask(name: "foo1") { () async throws -> Int in
                    try await sleep(0.002)
                    onLoop.withLock { $0.append(loop.isOnLoopThread) }
                    return 42
                }
                let t2 = try group.createTask(name: "foo2") { () async throws -> Int in
                    try await sleep(0.004)
                    onLoop.withLock { $0.append(loop.isOnLoopThread) }
                    return 11
                }
                listed.withLock { $0 = Set(loop.allTasks().map(\.name)) }
                return (t1, t2)
            }
            return Seen(results: [try t1.result(), try t2.result()], names: [t1.name, t2.name],
                        listed: listed.value, onLoopThread: onLoop.value,
                        cancelledAfter: Task.isCancelled)
        }
        #expect(seen.results == [42, 11], "both were done when the group returned")
        #expect(seen.names == ["foo1", "foo2"])
        #expect(seen.listed.isSuperset(of: ["foo1", "foo2"]))
        #expect(seen.onLoopThread == [true, true])
        #expect(!seen.cancelledAfter)
    }

    // test_taskgroup_02 and test_taskgroup_24 (children started later in the body, and by a
    // child after the body returned).
    @Test("a child may start children, also after the body returned; the exit waits for all of them")
    func childrenStartChildrenAfterTheBody() async throws {
        let finished = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> [String] in
            let finished = Locked<[String]>([])
            try await withLoopTaskGroup { group in
                try group.createTask(name: "root") {
                    try await sleep(0.002)  // the body has returned by now
                    for delay in [0.001, 0.002] {
                        try group.createTask {
                            try await sleep(delay)
                            finished.withLock { $0.append("coro1(\(delay))") }
                        }
                    }
                    finished.withLock { $0.append("root") }
                }
            }
            return finished.value
        }
        #expect(finished == ["root", "coro1(0.001)", "coro1(0.002)"])
    }

    // test_taskgroup_03 (a child cancelled explicitly: the rest goes on).
    @Test("a child cancelled by someone is cancelled, not an error; the others complete")
    func cancelledChildIsNotAnError() async throws {
        struct Seen: Sendable { var firstCancelled: Bool; var second: Int }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let (t1, t2) = try await withLoopTaskGroup { group in
                let t1 = try group.createTask { () async throws -> Int in
                    try await sleep(Self.longSleep)
                    return 42
                }
                try await sleep(0.001)
                t1.cancel()
                let t2 = try group.createTask { () async throws -> Int in
                    try await sleep(0.002)
                    return 11
                }
                return (t1, t2)
            }
            return Seen(firstCancelled: t1.isCancelled, second: try t2.result())
        }
        #expect(seen.firstCancelled)
        #expect(seen.second == 11)
    }

    // test_cancel_children_on_child_error, test_taskgroup_04, test_cancelling_level_preserved,
    // test_cancellation_does_not_leak_out_of_tg.
    @Test("a failing child cancels exactly the unfinished children and the body; the group throws exactly its error; the caller is not left cancelled")
    func childFailureCancelsTheOthersAndTheBody() async throws {
        struct Seen: Sendable {
            var thrown: (any Error)?; var cancelled: [String]; var afterGroup: Bool
            var doneResult: Int?; var callerCancelled: Bool; var callerCanSleep: Bool
        }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelled = Locked<[String]>([])
            let afterGroup = Locked(false)
            let done = Locked<LoopTask<Int>?>(nil)
            var thrown: (any Error)?
            do {
                try await withLoopTaskGroup { group in
                    done.withLock { $0 = try? group.createTask(name: "done") { 7 } }
                    for name in ["t2", "t3"] {
                        try group.createTask(name: name) { try await Self.sleepLogging(name, to: cancelled) }
                    }
                    try group.createTask(name: "foo1") {
                        try await sleep(0.002)
                        throw TestError(code: 1)
                    }
                    try await Self.sleepLogging("body", to: cancelled)
                }
                afterGroup.withLock { $0 = true }
            } catch {
                thrown = error
            }
            let callerCancelled = Task.isCancelled
            let canSleep = (try? await sleep(0.001)) != nil
            return Seen(thrown: thrown, cancelled: cancelled.value, afterGroup: afterGroup.value,
                        doneResult: try done.value?.result(), callerCancelled: callerCancelled, callerCanSleep: canSleep)
        }
        #expect(Self.codes(seen.thrown) == [1], "\(String(describing: seen.thrown))")
        #expect(seen.cancelled.sorted() == ["body", "t2", "t3"], "the finished child is not cancelled")
        #expect(!seen.afterGroup)
        #expect(seen.doneResult == 7)
        #expect(!seen.callerCancelled && seen.callerCanSleep, "the group cancelled the body's task, not the caller's")
    }

    // test_cancel_children_on_child_error ("the 3 foo1 sub tasks"): failures in one iteration.
    @Test("children that fail in the same iteration, before the abort: every error, in the order they failed")
    func failuresInOneIteration() async throws {
        let thrown = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> (any Error)? in
            do {
                try await withLoopTaskGroup { group in
                    for code in 1...3 { try group.createTask { throw TestError(code: code) } }
                }
                return nil
            } catch {
                return error
            }
        }
        #expect(Self.codes(thrown) == [1, 2, 3])
    }

    // test_taskgroup_19 (a child fails; the body, cancelled, fails too).
    @Test("two failures, a child's and then the body's in its clean-up: both errors, in that order")
    func twoFailuresBothErrors() async throws {
        let thrown = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> (any Error)? in
            do {
                try await withLoopTaskGroup { group in
                    try group.createTask {
                        try await sleep(0.001)
                        throw TestError(code: 1)
                    }
                    do { try await sleep(Self.longSleep) } catch { throw TestError(code: 2) }
                }
                return nil
            } catch {
                return error
            }
        }
        #expect(Self.codes(thrown) == [1, 2])
    }

    // test_taskgroup_09, test_taskgroup_10 (the body raises: the children are cancelled).
    @Test("an error thrown by the body cancels the children; the group throws it in a TaskGroupError")
    func bodyErrorCancelsChildren() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var cancelled: [String]; var tasksCancelled: [Bool] }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelled = Locked<[String]>([])
            let tasks = Locked<[any CancellableLoopTask]>([])
            do {
                try await withLoopTaskGroup { group in
                    for name in ["t1", "t2"] {
                        let task = try group.createTask { try await Self.sleepLogging(name, to: cancelled) }
                        tasks.withLock { $0.append(task) }
                    }
                    try await sleep(0.001)
                    throw TestError(code: 3)
                }
                return Seen(thrown: nil, cancelled: cancelled.value, tasksCancelled: [])
            } catch {
                let states = tasks.value.map { ($0 as? LoopTask<Void>)?.isCancelled ?? false }
                return Seen(thrown: error, cancelled: cancelled.value, tasksCancelled: states)
            }
        }
        #expect(Self.codes(seen.thrown) == [3])
        #expect(seen.cancelled.sorted() == ["t1", "t2"])
        #expect(seen.tasksCancelled == [true, true])
    }

    // test_cancellation, test_taskgroup_07 (the task running the group is cancelled from outside).
    @Test("cancelling the task that runs the group cancels the children and the body; it ends with CancellationError, not a TaskGroupError")
    func outsideCancellation() async throws {
        struct Seen: Sendable { var cancelled: [String]; var runnerCancelled: Bool; var error: (any Error)? }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let cancelled = Locked<[String]>([])
            let started = Locked(0)
            let runner = loop.createTask { () async throws -> Void in
                try await withLoopTaskGroup { group in
                    for index in 0..<5 {
                        try group.createTask {
                            started.withLock { $0 += 1 }
                            try await Self.sleepLogging("foo\(index)", to: cancelled)
                        }
                    }
                    try await Self.sleepLogging("body", to: cancelled)
                }
            }
            try await FutureTesting.eventually { started.value == 5 }
            runner.cancel()
            await runner.waitUntilDone()
            return Seen(cancelled: cancelled.value, runnerCancelled: runner.isCancelled, error: try? runner.exception())
        }
        #expect(seen.cancelled.sorted() == ["body", "foo0", "foo1", "foo2", "foo3", "foo4"])
        #expect(seen.runnerCancelled, "the runner ended with a cancellation error: \(String(describing: seen.error))")
    }

    // test_taskgroup_22 (cancelled while the exit waits for the children).
    @Test("cancelled while the exit waits for the children (the body returned): they are cancelled, and CancellationError propagates")
    func outsideCancellationAtTheExit() async throws {
        struct Seen: Sendable { var cancelled: [String]; var sawCancellation: Bool }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let cancelled = Locked<[String]>([])
            let bodyReturned = Locked(false)
            let outcome = Locked<(any Error)?>(nil)
            let runner = loop.createTask { () async throws -> Void in
                do {
                    let value = try await withLoopTaskGroup { group -> Int in
                        try group.createTask { try await Self.sleepLogging("foo1", to: cancelled) }
                        try group.createTask { try await Self.sleepLogging("foo2", to: cancelled) }
                        bodyReturned.withLock { $0 = true }
                        return 1
                    }
                    _ = value
                } catch {
                    outcome.withLock { $0 = error }
                    throw error
                }
            }
            try await FutureTesting.eventually { bodyReturned.value }
            try await sleep(0.001)
            runner.cancel()
            await runner.waitUntilDone()
            return Seen(cancelled: cancelled.value, sawCancellation: outcome.value is CancellationError)
        }
        #expect(seen.cancelled.sorted() == ["foo1", "foo2"])
        #expect(seen.sawCancellation)
    }

    // test_taskgroup_18 (cancelled from outside; the body raises on its cancellation).
    @Test("cancelled from outside while the body fails in its clean-up: the error wins over the cancellation")
    func errorWinsOverOutsideCancellation() async throws {
        let error = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> (any Error)? in
            let loop = try getRunningLoop()
            let started = Locked(false)
            let runner = loop.createTask { () async throws -> Void in
                try await withLoopTaskGroup { _ in
                    started.withLock { $0 = true }
                    do { try await sleep(Self.longSleep) } catch { throw TestError(code: 4) }
                }
            }
            try await FutureTesting.eventually { started.value }
            runner.cancel()
            await runner.waitUntilDone()
            return try runner.exception()
        }
        #expect(Self.codes(error) == [4])
    }

    // TaskGroup._aexit with a CancelledError out of the body that no one sent to the parent
    // (a cancelled future it awaited): the children are aborted and CancelledError propagates.
    @Test("a cancellation error the body throws of its own accord aborts the children and is what the group throws")
    func bodysOwnCancellationError() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var cancelled: [String]; var callerCancelled: Bool }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let cancelled = Locked<[String]>([])
            let future = loop.createFuture(of: Int.self)
            try loop.callLater(0.002) { _ = future.cancel(message: "gone") }
            do {
                try await withLoopTaskGroup { group in
                    try group.createTask { try await Self.sleepLogging("child", to: cancelled) }
                    _ = try await future.value
                }
                return Seen(thrown: nil, cancelled: cancelled.value, callerCancelled: Task.isCancelled)
            } catch {
                return Seen(thrown: error, cancelled: cancelled.value, callerCancelled: Task.isCancelled)
            }
        }
        #expect((seen.thrown as? CancelledError)?.message == "gone", "\(String(describing: seen.thrown))")
        #expect(seen.cancelled == ["child"])
        #expect(!seen.callerCancelled)
    }

    // test_exception_refcycles_propagate_cancellation_error (`async with asyncio.timeout(-1):
    // async with tg: ...`: the timeout cancels the group's task; TimeoutError comes out).
    @Test("a group inside withTimeout: at the deadline the children are cancelled and withTimeout throws TimeoutError")
    func groupUnderATimeout() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var cancelled: [String] }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelled = Locked<[String]>([])
            do {
                _ = try await withTimeout(0.002) { _ in
                    try await withLoopTaskGroup { group in
                        try group.createTask { try await Self.sleepLogging("child", to: cancelled) }
                    }
                }
                return Seen(thrown: nil, cancelled: cancelled.value)
            } catch {
                return Seen(thrown: error, cancelled: cancelled.value)
            }
        }
        #expect(seen.thrown is TimeoutError, "\(String(describing: seen.thrown))")
        #expect(seen.cancelled == ["child"])
    }

    @Test("many groups in a row, some failing, leave no task behind and the caller uncancelled")
    func manyGroupsInARow() async throws {
        struct Seen: Sendable { var failures: Int; var sums: Int; var leftover: Int; var callerCancelled: Bool }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            var failures = 0
            var sums = 0
            for round in 0..<200 {
                do {
                    let tasks = try await withLoopTaskGroup { group in
                        try (0..<3).map { index in
                            try group.createTask(eager: index == 0) { () async throws -> Int in
                                if index == 2 { try await sleep(0) }
                                if round % 4 == 0 && index == 1 { throw TestError(code: round) }
                                return index
                            }
                        }
                    }
                    sums += try tasks.reduce(0) { try $0 + $1.result() }
                } catch let error as TaskGroupError {
                    failures += error.errors.count
                }
            }
            return Seen(failures: failures, sums: sums, leftover: loop.allTasks().count - 1,
                        callerCancelled: Task.isCancelled)
        }
        #expect(seen.failures == 50)
        #expect(seen.sums == 150 * 3)
        #expect(seen.leftover == 0)
        #expect(!seen.callerCancelled)
    }

    // test_taskgroup_finished, test_coro_closed_when_tg_closed.
    @Test("createTask on a finished group throws .finished, and the operation never runs")
    func createTaskAfterTheExit() async throws {
        struct Seen: Sendable { var refusal: TaskGroupStateError?; var ran: Bool; var description: String }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let ran = Locked(false)
            let group = try await withLoopTaskGroup { group in group }
            var refusal: TaskGroupStateError?
            do {
                try group.createTask { ran.withLock { $0 = true } }
            } catch let error as TaskGroupStateError {
                refusal = error
            }
            try await sleep(0.002)
            return Seen(refusal: refusal, ran: ran.value, description: group.description)
        }
        #expect(seen.refusal == .finished)
        #expect(!seen.ran)
        #expect(seen.description.contains("finished"))
    }

    // test_taskgroup_no_create_task_after_failure.
    @Test("createTask while the group aborts (in a cancelled child) throws .shuttingDown, and the operation never runs")
    func createTaskWhileAborting() async throws {
        struct Seen: Sendable { var refusal: TaskGroupStateError?; var ran: Bool; var thrown: (any Error)? }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let ran = Locked(false)
            let refusal = Locked<TaskGroupStateError?>(nil)
            do {
                try await withLoopTaskGroup { group in
                    try group.createTask {
                        try await sleep(0.001)
                        throw TestError(code: 1)
                    }
                    try group.createTask {
                        do { try await sleep(Self.longSleep) } catch {
                            do {
                                try group.createTask { ran.withLock { $0 = true } }
                            } catch let error as TaskGroupStateError {
                                refusal.withLock { $0 = error }
                            }
                            throw error
                        }
                    }
                }
            } catch {
                try await sleep(0.002)
                return Seen(refusal: refusal.value, ran: ran.value, thrown: error)
            }
            return Seen(refusal: refusal.value, ran: ran.value, thrown: nil)
        }
        #expect(seen.refusal == .shuttingDown)
        #expect(!seen.ran)
        #expect(Self.codes(seen.thrown) == [1])
    }

    // test_cancels_task_if_created_during_creation (gh-128550: an eager child that fails at
    // once must not cancel the body inside create_task).
    @Test("an eager child that fails inside createTask: the body goes on until its next suspension, which is cancelled")
    func eagerChildFailingAtOnce() async throws {
        struct Seen: Sendable { var cancelledInCreate: Bool; var failedAtOnce: Bool; var bodyCancelled: Bool; var thrown: (any Error)? }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelledInCreate = Locked(true)
            let failedAtOnce = Locked(false)
            let bodyCancelled = Locked<[String]>([])
            do {
                try await withLoopTaskGroup { group in
                    let task = try group.createTask(eager: true) { () async throws -> Void in throw TestError(code: 5) }
                    failedAtOnce.withLock { $0 = task.isDone }
                    cancelledInCreate.withLock { $0 = Task.isCancelled }
                    try await Self.sleepLogging("body", to: bodyCancelled)
                }
            } catch {
                return Seen(cancelledInCreate: cancelledInCreate.value, failedAtOnce: failedAtOnce.value,
                            bodyCancelled: bodyCancelled.value == ["body"], thrown: error)
            }
            return Seen(cancelledInCreate: cancelledInCreate.value, failedAtOnce: failedAtOnce.value,
                        bodyCancelled: false, thrown: nil)
        }
        #expect(seen.failedAtOnce)
        #expect(!seen.cancelledInCreate)
        #expect(seen.bodyCancelled)
        #expect(Self.codes(seen.thrown) == [5])
    }

    // test_taskgroup_13 (nested: the outer group's child fails; the inner group is cancelled).
    @Test("nested groups: an outer child's failure cancels the inner group through the outer body; only its error comes out")
    func nestedOuterChildFails() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var cancelled: [String] }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelled = Locked<[String]>([])
            do {
                try await withLoopTaskGroup { outer in
                    try outer.createTask {
                        try await sleep(0.002)
                        throw TestError(code: 1)
                    }
                    try await withLoopTaskGroup { inner in
                        try inner.createTask { try await Self.sleepLogging("inner child", to: cancelled) }
                    }
                }
                return Seen(thrown: nil, cancelled: cancelled.value)
            } catch {
                return Seen(thrown: error, cancelled: cancelled.value)
            }
        }
        #expect(Self.codes(seen.thrown) == [1], "\(String(describing: seen.thrown))")
        #expect(seen.cancelled == ["inner child"])
    }

    // test_taskgroup_14 (nested: the inner group's child fails; its group is one error of the
    // outer group).
    @Test("nested groups: an inner child's failure is a TaskGroupError inside the outer TaskGroupError; the outer child is cancelled")
    func nestedInnerChildFails() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var cancelled: [String] }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelled = Locked<[String]>([])
            do {
                try await withLoopTaskGroup { outer in
                    try outer.createTask { try await Self.sleepLogging("outer child", to: cancelled) }
                    try await withLoopTaskGroup { inner in
                        try inner.createTask {
                            try await sleep(0.002)
                            throw TestError(code: 2)
                        }
                    }
                }
                return Seen(thrown: nil, cancelled: cancelled.value)
            } catch {
                return Seen(thrown: error, cancelled: cancelled.value)
            }
        }
        let outer = try #require(seen.thrown as? TaskGroupError)
        #expect(outer.errors.count == 1)
        #expect(Self.codes(outer.errors.first) == [2])
        #expect(seen.cancelled == ["outer child"])
    }

    // test_taskgroup_25 (hydras: children that start children until a sibling fails).
    @Test("children that keep starting children until one fails: the group stops them all, and throws only that error")
    func hydras() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var hydras: Int }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let count = Locked(0)
            @Sendable func hydra(_ group: LoopTaskGroup) async throws {
                count.withLock { $0 += 1 }
                try await sleep(0.001)
                // Swift's cancellation is cooperative: a hydra whose sleep ended just before the
                // abort learns of it here, not from an error thrown into the sleep (asyncio).
                try Task.checkCancellation()
                try group.createTask { try await hydra(group) }
                try group.createTask { try await hydra(group) }
            }
            do {
                try await withLoopTaskGroup { group in
                    try group.createTask { try await hydra(group) }
                    try group.createTask {
                        while count.value < 10 { try await sleep(0.001) }
                        throw TestError(code: 6)
                    }
                }
                return Seen(thrown: nil, hydras: count.value)
            } catch {
                return Seen(thrown: error, hydras: count.value)
            }
        }
        #expect(Self.codes(seen.thrown) == [6])
        #expect(seen.hydras >= 10)
    }

    // TaskGroup.__aenter__ runs the body in the parent task at once; test_taskgroup_task_context
    // (the children see the context).
    @Test("the body starts at once, before tasks already scheduled, and the body and the children see the caller's task-locals")
    func bodyRunsAtOnceWithTheCallersTaskLocals() async throws {
        struct Seen: Sendable { var order: [String]; var bodyLocal: String; var childLocal: String }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let order = Locked<[String]>([])
            return try await Self.$label.withValue("caller") {
                let earlier = loop.createTask { order.withLock { $0.append("task scheduled before") } }
                let (bodyLocal, child) = try await withLoopTaskGroup { group in
                    order.withLock { $0.append("body") }
                    let child = try group.createTask { Self.label }
                    return (Self.label, child)
                }
                await earlier.waitUntilDone()
                return Seen(order: order.value, bodyLocal: bodyLocal, childLocal: try child.result())
            }
        }
        #expect(seen.order == ["body", "task scheduled before"])
        #expect(seen.bodyLocal == "caller")
        #expect(seen.childLocal == "caller")
    }

    @TaskLocal static var label = "none"

    // Thread-safety (MultiLoop's difference 1): asyncio's create_task is for the loop's thread.
    @Test("createTask from another thread starts a task of the group's loop, which the exit waits for")
    func createTaskFromAnotherThread() async throws {
        struct Seen: Sendable { var onLoopThread: Bool?; var refusal: TaskGroupStateError? }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let onLoop = Locked<Bool?>(nil)
            let refusal = Locked<TaskGroupStateError?>(nil)
            let handedOver = Locked(false)
            try await withLoopTaskGroup { group in
                let thread = JoinableThread {
                    do {
                        try group.createTask {
                            try await sleep(0.002)
                            onLoop.withLock { $0 = loop.isOnLoopThread }
                        }
                    } catch let error as TaskGroupStateError {
                        refusal.withLock { $0 = error }
                    } catch {}
                    handedOver.withLock { $0 = true }
                }
                try await FutureTesting.eventually { handedOver.value }
                thread.join()  // it has ended: a short wait
            }
            return Seen(onLoopThread: onLoop.value, refusal: refusal.value)
        }
        #expect(seen.refusal == nil)
        #expect(seen.onLoopThread == true, "the exit waited for the child")
    }

    // test_taskgroup_without_parent_task ("cannot determine the parent task").
    @Test("withLoopTaskGroup off a loop throws noRunningLoop, and the body never runs")
    func offALoop() async {
        let ran = Locked(false)
        await #expect(throws: EventLoopError.noRunningLoop) {
            try await withLoopTaskGroup { _ in ran.withLock { $0 = true } }
        }
        #expect(!ran.value)
    }
}
