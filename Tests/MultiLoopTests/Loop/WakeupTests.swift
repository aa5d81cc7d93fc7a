import Testing
import CMultiLoopSystem
#if canImport(Glibc)
import Glibc
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("Wake-ups and statistics", .timeLimit(.minutes(5)))
struct WakeupTests {
    @Test("pushes to a loop that is not asleep write no eventfd")
    func noEventfdWriteWhileAwake() throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        // Not running, hence not asleep: the head is never SLEEPING.
        JoinableThread.runAll(2) { _ in
            for _ in 0..<10_000 {
                try! loop.callSoonThreadsafe({ (_: Int) in
                    ran.value += 1
                    if ran.value == 20_000 { loop.stop() }
                }, 0)
            }
        }
        #expect(loop.statistics.eventfdWrites == 0)
        try loop.runForever()
        let stats = loop.statistics
        // The backlog runs 1024 items per lane per iteration, and a loop with work left in a
        // lane never sleeps: no eventfd write at all.
        let limit = EventLoop.drainLimitPerLane
        #expect(stats.eventfdWrites == 0)
        #expect(stats.wakeups == 0)
        #expect(stats.inboxPushes == 20_000)
        #expect(stats.callbacksRun == 20_000)
        #expect(stats.largestBatch == UInt64(2 * limit))
        #expect(stats.iterations == UInt64((10_000 + limit - 1) / limit))
        try loop.close()
    }

    @Test("a sleeping loop is woken by a submission from another thread, once per sleep", arguments: 0..<3)
    func sleepingLoopIsWokenOncePerSleep(round: Int) throws {
        // No spin: between two round trips the loop has nothing to do and goes to sleep at once
        // (a spinning loop may see the next request before it sleeps, and never be woken).
        let loop = try EventLoop(spinBeforeSleep: .zero)
        try withLoopOnThread(loop) {
            for index in 0..<200 {
                // Each round trip leaves the loop with nothing to do: it goes back to sleep.
                let value = try onLoop(loop) { index }
                #expect(value == index)
            }
            JoinableThread.runAll(2) { _ in
                for _ in 0..<20_000 { try! loop.callSoonThreadsafe({ (_: Int) in }, 0) }
            }
            _ = try onLoopOrNil(loop)
            let stats = loop.statistics
            // Every eventfd write replaced a distinct SLEEPING: never more writes than sleeps.
            #expect(stats.eventfdWrites <= stats.wakeups + 1)
            #expect(stats.eventfdWrites >= 1)
        }
        // 200 round trips, 40 000 submissions, one more round trip, and the stop request.
        let stats = loop.statistics
        #expect(stats.callbacksRun == 40_202)
        #expect(stats.inboxPushes == 40_202)
    }

    /// A thread's first submission registers its lane through the inbox, replacing SLEEPING:
    /// that push, not the lane's, owes the eventfd write. A fresh thread per round, so that each
    /// round is a registration. Bounded waits: a loop that is not woken fails the test in
    /// seconds (and the test then wakes it itself, so that it can stop it).
    @Test("a thread's first submission wakes a loop asleep with no timer (the registration's eventfd write)")
    func registrationWakesSleepingLoop() async throws {
        let problems = await offThePool { () -> [String] in
            guard let loop = try? EventLoop(spinBeforeSleep: .zero) else { return ["no loop"] }
            let thread = JoinableThread { try! loop.runForever() }
            var problems: [String] = []
            for round in 0..<20 {
                guard Self.waitUntil(seconds: 5, { ml_load_acquire(loop.inbox.head) == InboxTag.sleeping }) else {
                    problems.append("round \(round): the loop never went to sleep")
                    break
                }
                let ran = FutureTesting.Event()
                JoinableThread { try! loop.callSoonThreadsafe { ran.signal() } }.join()
                if !ran.wait(seconds: 5) {
                    problems.append("round \(round): a new thread's callback did not run within 5 s (the loop slept on)")
                    loop.wakeUp()
                    _ = ran.wait(seconds: 5)
                    break
                }
            }
            loop.stop()
            loop.wakeUp()  // a spurious wake-up at worst; ends the sleep should stop()'s have been lost
            thread.join()
            _ = try? loop.close()
            return problems
        }
        #expect(problems.isEmpty, "\(problems)")
    }

    private static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = ml_monotonic_ns() + Int64(seconds * 1e9)
        while !condition() {
            if ml_monotonic_ns() > deadline { return false }
            sched_yield()
        }
        return true
    }

    @Test("statistics are readable from any thread while the loop runs")
    func statisticsFromOtherThreads() throws {
        let loop = try EventLoop()
        try withLoopOnThread(loop) {
            JoinableThread.runAll(2) { producer in
                for _ in 0..<5_000 {
                    if producer == 0 {
                        try! loop.callSoonThreadsafe({ (_: Int) in }, 0)
                    } else {
                        _ = loop.statistics
                    }
                }
                // Through the producer's own lane, so after its 5 000 callbacks (an iteration
                // takes at most 1024 items per lane: they may span several iterations).
                if producer == 0 { _ = try! onLoopOrNil(loop) }
            }
            // Counters are published at the end of each iteration: this round trip runs in a
            // later iteration than the producer's last one.
            _ = try onLoopOrNil(loop)
            #expect(loop.statistics.callbacksRun >= 5_001)
        }
    }
}
