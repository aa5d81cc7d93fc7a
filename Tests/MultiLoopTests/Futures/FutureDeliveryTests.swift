import CMultiLoopSystem
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// What a future owes its waiters, each delivered within seconds or the test fails by an
/// assertion: done callbacks run, an awaiting task resumes, a cancelled awaiter ends its wait,
/// a cancelled gather cancels what it gathers. Each test runs its loop on a thread of its own
/// and waits with a 5 s bound from a thread off Swift's pool, so a lost delivery is a failed
/// expectation, never a hang (a test then releases what it can, so that its loop can close).
/// asyncio: test_futures' test_callbacks_invoked_on_set_result, test_tasks' test_cancel_yield
/// and test_cancellation_broadcast.
@Suite("Future delivery within seconds", .timeLimit(.minutes(5)))
struct FutureDeliveryTests {
    typealias Event = FutureTesting.Event
    typealias LoopThread = FutureTesting.LoopThread

    static let bound = 5.0

    @Test("done callbacks registered before completion run, in order, once another thread completes the future")
    func doneCallbacksRunAfterCompletion() async throws {
        let problems = await offThePool { () -> [String] in
            guard let loopThread = try? LoopThread() else { return ["no loop"] }
            defer { loopThread.shutDown() }
            let future = loopThread.loop.createFuture(of: Int.self)
            let ran = Locked<[Int]>([])
            let last = Event()
            for index in 0..<3 {
                _ = try? future.addDoneCallback { future in
                    let value = try future.result()
                    ran.withLock { $0.append(10 * index + value) }
                    if index == 2 { last.signal() }
                }
            }
            JoinableThread { try! future.setResult(1) }.join()
            guard last.wait(seconds: Self.bound) else {
                return ["the done callbacks did not run within \(Self.bound) s of the completion (ran: \(ran.value))"]
            }
            return ran.value == [1, 11, 21] ? [] : ["ran \(ran.value), expected [1, 11, 21]"]
        }
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test("tasks awaiting a pending future (in its slot and in a node) resume when another thread completes it")
    func awaitersResumeOnCompletion() async throws {
        let problems = await offThePool { () -> [String] in
            guard let loopThread = try? LoopThread() else { return ["no loop"] }
            defer { loopThread.shutDown() }
            let loop = loopThread.loop
            let future = loop.createFuture(of: Int.self)
            guard let (inSlot, inNode) = try? loopThread.sync({
                (loop.createTask { try await future.value + 1 }, loop.createTask { try await future.value + 2 })
            }) else { return ["no tasks"] }
            // Both wait: the first in the slot, the second in a node of the callback list.
            guard Self.waitUntil({ ml_load_acquire(future.awaiterWord) == AwaiterWord.waiting && !future.hasNoRegistrations }) else {
                return ["the tasks never waited"]
            }
            JoinableThread { try! future.setResult(40) }.join()
            var problems: [String] = []
            for (name, task, expected) in [("slot", inSlot, 41), ("node", inNode, 42)] {
                if !Self.waitUntil({ task.isDone }) {
                    problems.append("the awaiter in the \(name) did not resume within \(Self.bound) s")
                } else if (try? task.result()) != expected {
                    problems.append("the awaiter in the \(name) got \(String(describing: try? task.result()))")
                }
            }
            return problems
        }
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test("cancelling a task that awaits a pending future ends its wait at once with CancellationError; the future stays pending")
    func cancelEndsTheWait() async throws {
        let problems = await offThePool { () -> [String] in
            guard let loopThread = try? LoopThread() else { return ["no loop"] }
            defer { loopThread.shutDown() }
            let loop = loopThread.loop
            let future = loop.createFuture(of: Int.self)
            guard let task = try? loopThread.sync({ loop.createTask { try await future.value } }) else { return ["no task"] }
            guard Self.waitUntil({ ml_load_acquire(future.awaiterWord) == AwaiterWord.waiting }) else {
                return ["the task never waited"]
            }
            task.cancel()  // from this thread, not the loop's
            var problems: [String] = []
            if !Self.waitUntil({ task.isDone }) {
                problems.append("the cancelled awaiter was still waiting after \(Self.bound) s")
                _ = try? future.setResult(0)  // release it
            } else if !task.isCancelled {
                problems.append("the wait ended, but not with CancellationError: \(task)")
            }
            if future.isDone && (try? future.result()) != 0 { problems.append("the future itself was completed") }
            return problems
        }
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test("cancelling a gather cancels every task it gathers (asyncio: test_cancellation_broadcast)")
    func gatherCancelReachesItsTasks() async throws {
        let problems = await offThePool { () -> [String] in
            guard let loopThread = try? LoopThread() else { return ["no loop"] }
            defer { loopThread.shutDown() }
            let loop = loopThread.loop
            guard let (outer, children) = try? loopThread.sync({ () -> (LoopTask<[Int]>, [LoopTask<Int>]) in
                let children = (0..<3).map { index in
                    loop.createTask { () async throws -> Int in try await EventLoop.sleep(3_600); return index }
                }
                return (loop.createTask { try await gather(children) }, children)
            }) else { return ["no tasks"] }
            // Until the children sleep (their timers are in the heap), and two iterations more:
            // the outer task waits in gather. (Round trips that wait on no future: a lost done
            // callback must not stall this test.)
            guard Self.waitUntil({ (try? loopThread.sync { loop.timers.count }) == 3 }) else {
                return ["the gathered tasks never slept"]
            }
            for _ in 0..<2 { _ = try? loopThread.sync { 0 } }
            outer.cancel()
            var problems: [String] = []
            if !Self.waitUntil({ children.allSatisfy(\.isDone) }) {
                problems.append("\(children.filter { !$0.isDone }.count) of 3 gathered tasks were still running "
                    + "\(Self.bound) s after the gather was cancelled")
                children.forEach { $0.cancel() }  // release them
            } else if !children.allSatisfy(\.isCancelled) {
                problems.append("a gathered task ended without being cancelled")
            }
            if !Self.waitUntil({ outer.isDone }) || !outer.isCancelled {
                problems.append("the gathering task did not end cancelled")
            }
            return problems
        }
        #expect(problems.isEmpty, "\(problems)")
    }

    /// Polls `condition` for up to `bound` seconds (a seeded bug must fail within seconds).
    static func waitUntil(_ condition: () -> Bool) -> Bool {
        FutureTesting.poll(for: bound, condition)
    }
}
