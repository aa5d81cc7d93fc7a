import Testing
@testable import MultiLoop

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
