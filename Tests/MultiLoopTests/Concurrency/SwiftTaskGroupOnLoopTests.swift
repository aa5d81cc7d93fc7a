import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// What Swift's own task groups do when they run in a task of a MultiLoop loop: the facts that
/// docs/asyncio-mapping.md states next to `asyncio.TaskGroup`, and the reason `withLoopTaskGroup`
/// exists. Each test is the scenario of a CPython test of `asyncio.TaskGroup`
/// (Lib/test/test_asyncio/test_taskgroups.py), named above it, run with Swift's group instead;
/// where Swift's answer differs from asyncio's, the test pins Swift's.
///
/// Every scenario runs with `run` on a thread of its own (`TaskGroupTesting.runOnItsOwnThread`)
/// and returns what it saw; the expectations are checked outside the loop. A child that should
/// be cancelled sleeps `longSleep` seconds: if it is not, the scenario ends that much later and
/// an expectation fails.
@Suite("Swift's task groups on a loop (what asyncio.TaskGroup users get from them)", .timeLimit(.minutes(5)))
struct SwiftTaskGroupOnLoopTests {
    /// How long a child sleeps that the scenario expects to be cancelled: never reached unless
    /// the expectation is wrong, and then the test fails after this long, not at its time limit.
    static let longSleep = 10.0

    // test_taskgroup_01 (children complete; their results are read after the group).
    @Test("withThrowingTaskGroup's children are tasks of the loop: they run on its thread, see it as the running loop, and their results come back")
    func childrenRunOnTheLoop() async throws {
        struct Seen: Sendable { var results: [Int]; var onLoopThread: [Bool]; var sawTheLoop: [Bool]; var liveTasks: Int }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let before = loop.allTasks().count
            return try await withThrowingTaskGroup(of: (Int, Bool, Bool).self) { group in
                for (index, delay) in [0.002, 0.001].enumerated() {
                    group.addTask {
                        try await sleep(delay)
                        return (index, loop.isOnLoopThread, (try? getRunningLoop()) === loop)
                    }
                }
                // Swift's children are not tasks of the loop's list (not LoopTasks): only `main`.
                let live = loop.allTasks().count - before
                var seen = Seen(results: [], onLoopThread: [], sawTheLoop: [], liveTasks: live)
                for try await (index, onLoop, sawLoop) in group {
                    seen.results.append(index)
                    seen.onLoopThread.append(onLoop)
                    seen.sawTheLoop.append(sawLoop)
                }
                return seen
            }
        }
        #expect(seen.results.sorted() == [0, 1])
        #expect(seen.onLoopThread == [true, true], "child tasks inherit the loop as their executor preference")
        #expect(seen.sawTheLoop == [true, true])
        #expect(seen.liveTasks == 0, "Swift's children have no name and are not in loop.allTasks()")
    }

    // test_cancel_children_on_child_error (a child fails: asyncio cancels the others and the
    // body at once).
    @Test("withThrowingTaskGroup: a failing child cancels nothing by itself; the body is not cancelled, and only when next() rethrows the error and the body throws it do the other children get cancelled")
    func childFailureIsSeenOnlyThroughNext() async throws {
        struct Seen: Sendable {
            var bodyCancelledAfterFailure: Bool
            var slowCancelledBeforeNext: Bool
            var thrown: (any Error)?
            var cancelledChildren: [String]
        }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let failed = Locked(false)
            let cancelled = Locked<[String]>([])
            var bodyCancelled = true
            var slowCancelledEarly = true
            var thrown: (any Error)?
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        failed.withLock { $0 = true }
                        throw TestError(code: 1)
                    }
                    group.addTask {
                        do { try await sleep(Self.longSleep) } catch {
                            cancelled.withLock { $0.append("slow") }
                            throw error
                        }
                    }
                    try await FutureTesting.eventually { failed.value }
                    for _ in 0..<5 { try await sleep(0) }  // the group would have reacted by now
                    bodyCancelled = Task.isCancelled
                    slowCancelledEarly = !cancelled.value.isEmpty
                    while try await group.next() != nil {}  // rethrows the first error
                }
            } catch {
                thrown = error
            }
            return Seen(bodyCancelledAfterFailure: bodyCancelled, slowCancelledBeforeNext: slowCancelledEarly,
                        thrown: thrown, cancelledChildren: cancelled.value)
        }
        #expect(!seen.bodyCancelledAfterFailure, "Swift never cancels the body of a group")
        #expect(!seen.slowCancelledBeforeNext, "the other children run on until the body sees the error")
        #expect(seen.thrown as? TestError == TestError(code: 1), "the child's own error, not a group of errors")
        #expect(seen.cancelledChildren == ["slow"], "the body's throw cancels the remaining children")
    }

    // test_taskgroup_04 with a body that only starts the children (asyncio: the exit waits for
    // them, a failure cancels the rest and raises ExceptionGroup).
    @Test("withThrowingTaskGroup: a body that returns without calling next() waits for the children and drops their errors; the others are not cancelled")
    func unconsumedErrorsAreDropped() async throws {
        struct Seen: Sendable { var value: Int; var failed: Bool; var slowFinished: Bool }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let failed = Locked(false)
            let slowFinished = Locked(false)
            // withThrowingTaskGroup rethrows its body's errors only: with a body that cannot
            // throw, the call cannot throw either (no `try`), whatever the children do.
            let value = await withThrowingTaskGroup(of: Void.self) { group -> Int in
                group.addTask {
                    failed.withLock { $0 = true }
                    throw TestError(code: 1)
                }
                group.addTask {
                    try await sleep(0.005)
                    slowFinished.withLock { $0 = true }
                }
                return 7
            }
            return Seen(value: value, failed: failed.value, slowFinished: slowFinished.value)
        }
        #expect(seen.value == 7, "the group returned the body's value")
        #expect(seen.failed, "a child threw, and its error was dropped")
        #expect(seen.slowFinished, "the other child ran to its end, uncancelled, before the group returned")
    }

    // test_cancel_children_on_child_error, with waitForAll() as the exit.
    @Test("withThrowingTaskGroup: waitForAll() waits for every child, cancelling none, then throws the first error")
    func waitForAllDoesNotFailFast() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var slowFinishedFirst: Bool }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let slowFinished = Locked(false)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { throw TestError(code: 1) }
                    group.addTask {
                        try await sleep(0.02)
                        slowFinished.withLock { $0 = true }
                    }
                    try await group.waitForAll()
                }
                return Seen(thrown: nil, slowFinishedFirst: false)
            } catch {
                return Seen(thrown: error, slowFinishedFirst: slowFinished.value)
            }
        }
        #expect(seen.thrown as? TestError == TestError(code: 1))
        #expect(seen.slowFinishedFirst, "the other child ran to its end, uncancelled, before the error came out")
    }

    // test_taskgroup_19 (two errors: the child's and the body's after its cancellation; asyncio
    // raises both in the ExceptionGroup).
    @Test("withThrowingTaskGroup: when two children fail, the caller sees the first error only")
    func twoFailuresOneError() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var secondFailed: Bool }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let secondFailed = Locked(false)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { throw TestError(code: 1) }
                    group.addTask {
                        do { try await sleep(Self.longSleep) } catch {
                            secondFailed.withLock { $0 = true }
                            throw TestError(code: 2)  // fails in its clean-up
                        }
                    }
                    while try await group.next() != nil {}
                }
                return Seen(thrown: nil, secondFailed: secondFailed.value)
            } catch {
                return Seen(thrown: error, secondFailed: secondFailed.value)
            }
        }
        #expect(seen.secondFailed)
        #expect(seen.thrown as? TestError == TestError(code: 1), "the second error is lost")
    }

    // test_cancel_children_on_child_error, with the discarding group (SE-0381), the closest to
    // asyncio: a failing child does cancel its siblings.
    @Test("withThrowingDiscardingTaskGroup: the first failure cancels the other children but not the body, which runs on; the caller sees the first error only")
    func discardingGroupCancelsSiblingsNotTheBody() async throws {
        struct Seen: Sendable {
            var groupCancelledInBody: Bool
            var bodyCancelled: Bool
            var cancelledChildren: [String]
            var thrown: (any Error)?
        }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelled = Locked<[String]>([])
            var groupCancelled = false
            var bodyCancelled = true
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    for name in ["a", "b"] {
                        group.addTask {
                            do { try await sleep(Self.longSleep) } catch {
                                cancelled.withLock { $0.append(name) }
                                throw TestError(code: 2)  // a second error, after the first
                            }
                        }
                    }
                    group.addTask {
                        try await sleep(0.001)
                        throw TestError(code: 1)
                    }
                    try await FutureTesting.eventually { cancelled.value.count == 2 }
                    groupCancelled = group.isCancelled
                    bodyCancelled = Task.isCancelled
                }
            } catch {
                return Seen(groupCancelledInBody: groupCancelled, bodyCancelled: bodyCancelled,
                            cancelledChildren: cancelled.value, thrown: error)
            }
            return Seen(groupCancelledInBody: groupCancelled, bodyCancelled: bodyCancelled,
                        cancelledChildren: cancelled.value, thrown: nil)
        }
        #expect(seen.cancelledChildren.sorted() == ["a", "b"])
        #expect(seen.groupCancelledInBody, "the group is marked cancelled")
        #expect(!seen.bodyCancelled, "the body's task is not: its own waits go on")
        #expect(seen.thrown as? TestError == TestError(code: 1), "only the first error reaches the caller")
    }

    // test_taskgroup_10 (the body raises: the children are cancelled, the error is raised).
    @Test("withThrowingTaskGroup: an error thrown by the body cancels the children, is waited out, and is rethrown as it is")
    func bodyErrorCancelsChildren() async throws {
        struct Seen: Sendable { var thrown: (any Error)?; var cancelledChildren: [String] }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let cancelled = Locked<[String]>([])
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for name in ["t1", "t2"] {
                        group.addTask {
                            do { try await sleep(Self.longSleep) } catch {
                                cancelled.withLock { $0.append(name) }
                                throw error
                            }
                        }
                    }
                    throw TestError(code: 3)
                }
            } catch {
                return Seen(thrown: error, cancelledChildren: cancelled.value)
            }
            return Seen(thrown: nil, cancelledChildren: cancelled.value)
        }
        #expect(seen.thrown as? TestError == TestError(code: 3))
        #expect(seen.cancelledChildren.sorted() == ["t1", "t2"], "the group waited for the cancelled children")
    }

    // test_cancellation (the task running the group is cancelled from outside: the children are
    // cancelled, CancelledError propagates).
    @Test("a loop task running withThrowingTaskGroup, cancelled from outside: its children are cancelled and the group ends with their CancellationError")
    func outsideCancellationReachesChildren() async throws {
        struct Seen: Sendable { var cancelledChildren: Int; var runnerCancelled: Bool; var sawCancellationError: Bool }
        let seen = try await TaskGroupTesting.runOnItsOwnThread { () async throws -> Seen in
            let loop = try getRunningLoop()
            let cancelled = Locked(0)
            let started = Locked(0)
            let runner = loop.createTask { () async throws -> Void in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<5 {
                        group.addTask {
                            started.withLock { $0 += 1 }
                            do { try await sleep(Self.longSleep) } catch {
                                cancelled.withLock { $0 += 1 }
                                throw error
                            }
                        }
                    }
                    while try await group.next() != nil {}
                }
            }
            try await FutureTesting.eventually { started.value == 5 }
            runner.cancel()
            await runner.waitUntilDone()
            let sawCancellation: Bool
            do { try await runner.value; sawCancellation = false } catch { sawCancellation = error is CancelledError }
            return Seen(cancelledChildren: cancelled.value, runnerCancelled: runner.isCancelled,
                        sawCancellationError: sawCancellation)
        }
        #expect(seen.cancelledChildren == 5, "Swift's children are cancelled with their parent")
        #expect(seen.runnerCancelled && seen.sawCancellationError)
    }
}
