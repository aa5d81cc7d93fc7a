import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem
import MultiLoopTestSupport

@Suite("LoopGroup: exactly-once delivery and graceful shutdown", .timeLimit(.minutes(5)))
struct LoopGroupShutdownTests {
    @Test("100k submissions from 4 threads to 4 loops: each runs once, FIFO per producer per loop")
    func exactlyOnceAndFIFO() throws {
        let producers = 4
        let perProducer = 25_000
        let group = try LoopGroup(loops: 4, name: "fifo")
        // One log per loop, written only by that loop's thread; read after the shutdown's joins.
        let logs = (0..<group.count).map { _ in LoopConfined([(producer: Int, sequence: Int)]()) }
        JoinableThread.runAll(producers) { producer in
            for sequence in 0..<perProducer {
                let loop = group.next()
                let log = logs[group.index(of: loop)!]
                // `execute` through the loop: the group's `submit` adds a future per item.
                try! loop.execute { log.value.append((producer, sequence)) }
            }
        }
        let report = try group.syncShutdownGracefully()
        #expect(report.tasksCancelled == 0 && report.tasksAbandoned == 0)
        var seen = Array(repeating: [Bool](repeating: false, count: perProducer), count: producers)
        var total = 0
        for log in logs {
            var last = Array(repeating: -1, count: producers)
            for item in log.value {
                #expect(item.sequence > last[item.producer], "FIFO per producer per loop")
                last[item.producer] = item.sequence
                #expect(!seen[item.producer][item.sequence], "ran twice")
                seen[item.producer][item.sequence] = true
                total += 1
            }
        }
        #expect(total == producers * perProducer)
        #expect(seen.allSatisfy { $0.allSatisfy { $0 } })
    }

    @Test("the same with the group's submit: every future completes with its own value")
    func submitExactlyOnce() throws {
        let group = try LoopGroup(loops: 4, name: "subx")
        let counters = (0..<group.count).map { _ in LoopConfined(0) }
        let sums = Locked(0)
        JoinableThread.runAll(4) { producer in
            let futures = (0..<2_500).map { index in
                try! group.submit { () -> Int in
                    counters[group.index(of: try getRunningLoop())!].value += 1
                    return producer * 10_000 + index
                }
            }
            let sum = futures.reduce(0) { $0 + (try! $1.wait(timeout: 60)) }
            sums.withLock { $0 += sum }
        }
        try group.syncShutdownGracefully()
        #expect(counters.reduce(0) { $0 + $1.value } == 10_000)
        let expected = (0..<4).reduce(0) { total, producer in total + (0..<2_500).reduce(0) { $0 + producer * 10_000 + $1 } }
        #expect(sums.value == expected)
    }

    @Test("shutdown while 4 producers submit: accepted == executed + cancelled, nothing runs after it returns",
          arguments: 0..<4)
    func shutdownWhileSubmitting(batch: Int) throws {
        // 4 x 50 = 200 rounds.
        for round in 0..<50 {
            try shutdownRound(seed: batch * 50 + round)
        }
    }

    private func shutdownRound(seed: Int) throws {
        let group = try LoopGroup(loops: 2, name: "sd\(seed % 100)")
        let load = GroupShutdownLoad()
        let acceptedTasks = Locked([Future<Int>]())
        let producers = (0..<4).map { producer in
            JoinableThread {
                let (futures, refusal) = load.produce(producer, group: group, warmUp: 20)
                #expect(refusal == .shutDown)
                acceptedTasks.withLock { $0 += futures }
            }
        }
        while load.started.value < 4 { sched_yield() }
        let report = try group.syncShutdownGracefully()
        load.returned.set()
        for producer in producers { producer.join() }

        #expect(load.ranAfter.value == 0)
        #expect(load.closuresRun.value == load.acceptedClosures.value)
        let futures = acceptedTasks.value
        #expect(futures.allSatisfy { $0.isDone }, "every accepted future completes")
        let cancelled = futures.filter(\.isCancelled).count
        #expect(futures.count == load.tasksRun.value + cancelled)
        #expect(cancelled == report.tasksCancelled + report.submissionsCancelled)
        #expect(report.tasksAbandoned == 0)
        #expect(throws: LoopGroupError.shutDown) { try group.submit { 0 } }
    }

    /// "shut down", or the error `syncShutdownGracefully()` threw.
    private static func outcomeOfShutdown(_ group: LoopGroup) -> String {
        do {
            try group.syncShutdownGracefully()
            return "shut down"
        } catch {
            return "\(error)"
        }
    }

    @Test("shutdown from one of the group's loop threads is an error, and the group keeps working")
    func shutdownFromALoopThread() throws {
        let group = try LoopGroup(loops: 2, name: "self")
        let outcome = try group.submit(to: 1) { Self.outcomeOfShutdown(group) }.wait(timeout: 60)
        #expect(outcome == "\(LoopGroupError.shutdownFromLoopThread)")
        #expect(try group.submit { 3 }.wait(timeout: 60) == 3)
        try group.syncShutdownGracefully()
    }

    @Test("from another loop: syncShutdownGracefully() is refused (it would block that loop); await shutdownGracefully() works")
    func shutdownFromAnotherLoop() throws {
        let group = try LoopGroup(loops: 2, name: "other")
        let other = try LoopGroup(loops: 1, name: "caller")
        defer { _ = try? other.syncShutdownGracefully() }
        let blocking = try other.submit { Self.outcomeOfShutdown(group) }.wait(timeout: 60)
        #expect(blocking == "\(LoopGroupError.shutdownFromLoopThread)")
        _ = try group.submitTask { () async throws -> Int in try await EventLoop.sleep(3600); return 0 }
        let report = try other.submitTask { () async throws -> LoopGroupShutdownReport in
            try await group.shutdownGracefully()
        }.wait(timeout: 60)
        #expect(report.tasksCancelled == 1)
        #expect(group.isShutDown)
        let fromItsOwnLoop = try other.submitTask { () async -> String in
            do {
                try await other.shutdownGracefully()
                return "shut down"
            } catch {
                return "\(error)"
            }
        }.wait(timeout: 60)
        #expect(fromItsOwnLoop == "\(LoopGroupError.shutdownFromLoopThread)")
    }

    @Test("shutdown is idempotent: concurrent and later calls return the same report; then submit throws")
    func shutdownTwice() throws {
        let group = try LoopGroup(loops: 2, name: "twice")
        _ = try group.submitTask { () async throws -> Int in try await EventLoop.sleep(3600); return 0 }
        let reports = Locked([LoopGroupShutdownReport]())
        JoinableThread.runAll(3) { _ in
            let report = try! group.syncShutdownGracefully()
            reports.withLock { $0.append(report) }
        }
        let again = try group.syncShutdownGracefully()
        #expect(reports.value.count == 3)
        #expect(reports.value.allSatisfy { $0 == again })
        #expect(again.tasksCancelled == 1)
        #expect(group.isShutDown && !group.isAcceptingWork)
        #expect(throws: LoopGroupError.shutDown) { try group.submit { 0 } }
        #expect(throws: LoopGroupError.shutDown) { try group.submitTask { 0 } }
        #expect(throws: EventLoopError.closed) { try group.loops[0].execute {} }
    }

    @Test("shutdown cancels live tasks and lets them finish their cancellation")
    func tasksFinishTheirCancellation() throws {
        let group = try LoopGroup(loops: 2, name: "task")
        let cleanedUp = StressCounter()
        let started = StressCounter()
        let futures = try (0..<6).map { index in
            try group.submitTask(to: index % 2) { () async throws -> Int in
                started.add()
                do {
                    try await EventLoop.sleep(3600)
                } catch {
                    // Cleanup that itself awaits: the loop must keep running for it.
                    _ = try? await group.loops[index % 2].submit { 0 }.value
                    cleanedUp.add()
                    throw error
                }
                return index
            }
        }
        while started.value < 6 { sched_yield() }
        let report = try group.syncShutdownGracefully()
        #expect(report.tasksCancelled == 6)
        #expect(report.tasksAbandoned == 0)
        #expect(cleanedUp.value == 6)
        #expect(futures.allSatisfy { $0.isCancelled })
        #expect(group.statistics.total.tasksCreated == group.statistics.total.tasksFinished)
    }

    /// Exact, with no race to win: the cancelled task's clean-up waits 0.2 s on its loop, so a
    /// shutdown that did not wait for the task (or for the threads) returns before it, a second
    /// call made meanwhile finds the first one running, and a loop left open still takes a push
    /// through a lane this thread registered before.
    @Test("shutdown waits for a slow clean-up and closes every loop; a second call made meanwhile waits for the same report")
    func shutdownWaitsForSlowCleanup() throws {
        let group = try LoopGroup(loops: 2, name: "slow")
        let started = StressFlag()
        let cleanup = Locked<String?>(nil)
        _ = try group.submitTask(to: 0) { () async throws -> Int in
            started.set()
            do {
                try await EventLoop.sleep(3_600)
            } catch {
                // Cancelled: a clean-up that needs its loop for another 0.2 s.
                let late = try getRunningLoop().schedule(after: 0.2) { 7 }
                await late.waitIgnoringCancellation()
                let value = try? late.result()
                cleanup.withLock { $0 = value == 7 ? "finished" : "cut short" }
                throw error
            }
            return 0
        }
        try group.loops[1].execute {}  // this thread's lane into loop 1
        while !started.isSet { sched_yield() }
        let second = Locked<LoopGroupShutdownReport?>(nil)
        let secondFoundItDone = Locked(false)
        let secondCaller = JoinableThread {
            while group.isAcceptingWork { sched_yield() }  // the first call has begun
            let report = try? group.syncShutdownGracefully()
            let done = group.isShutDown && group.loops.allSatisfy { $0.isClosed }
            secondFoundItDone.withLock { $0 = done }
            second.withLock { $0 = report }
        }
        let report = try group.syncShutdownGracefully()
        #expect(cleanup.value == "finished", "the clean-up, when shutdown returned: \(cleanup.value ?? "not done")")
        #expect(report.tasksCancelled == 1 && report.tasksAbandoned == 0, "\(report)")
        let allClosed = group.loops.allSatisfy { $0.isClosed }
        #expect(allClosed, "every loop is closed when shutdown returns")
        #expect(throws: EventLoopError.closed) { try group.loops[1].execute {} }
        secondCaller.join()
        #expect(second.value == report, "the second call returned \(second.value.map { "\($0)" } ?? "nothing")")
        #expect(secondFoundItDone.value, "the second call returned before the shutdown was complete")
    }

    @Test("timers not yet due are cancelled at shutdown: their futures fail with .closed")
    func timersAtShutdown() throws {
        let group = try LoopGroup(loops: 2, name: "tmr")
        let due = try group.loops[0].schedule(after: 0) { 1 }
        #expect(try due.wait(timeout: 60) == 1)
        let pending = try group.loops.map { loop in try loop.schedule(after: 3600) { 2 } }
        let ran = StressCounter()
        let plain = try group.loops[1].callLater(3600) { ran.add() }
        let report = try group.syncShutdownGracefully()
        #expect(report.timersCancelled == 3)
        for future in pending {
            #expect(throws: EventLoopError.closed) { try future.wait(timeout: 60) }
        }
        #expect(plain.isCancelled)
        #expect(ran.value == 0)
    }

    @Test("a task that ignores cancellation is abandoned after the grace period; shutdown still returns")
    func gracePeriod() async throws {
        let group = try LoopGroup(loops: 1, name: "grace")
        let release = StressFlag()
        let started = StressFlag()
        let stubborn = try group.submitTask { () async -> Int in
            started.set()
            while !release.isSet {
                // Swallows the cancellation; yields so that its loop keeps running (a task
                // that never suspends blocks its loop, shutdown included, as in any event loop).
                await Task.yield()
                try? await EventLoop.sleep(0.001)
            }
            return 9
        }
        // Off the pool: this test's own task must not hold one of its two threads while it waits.
        await offThePool { while !started.isSet { sched_yield() } }
        let handled = Locked([String]())
        group.loops[0].setExceptionHandler { _, context in handled.withLock { $0.append(context.message) } }
        let report = try await offThePool { Result { try group.syncShutdownGracefully(gracePeriod: 0.05) } }.get()
        #expect(report.tasksCancelled == 1)
        #expect(report.tasksAbandoned == 1)
        #expect(handled.value.contains { $0.contains("grace period") })
        release.set()
        // Abandoned: it goes on on the global executor.
        #expect(try await pollUntilDone(stubborn) == 9)
    }

    @Test("a group dropped without shutdown shuts down, running what it accepted")
    func dropWithoutShutdown() throws {
        weak var weakGroup: LoopGroup?
        var futures: [Future<Int>] = []
        do {
            let group = try LoopGroup(loops: 2, name: "drop")
            weakGroup = group
            futures = try (0..<100).map { index in try group.submit { index } }
        }
        #expect(weakGroup == nil)
        #expect(futures.enumerated().allSatisfy { (try? $0.element.result()) == $0.offset })
        // Joined threads can linger in /proc/self/task for a moment after pthread_join returns
        // (the kernel clears the joined tid before it reaps the task): look again, a bounded
        // number of times, rather than once.
        var lingering = threadNamesOfThisProcess().filter { $0.hasPrefix("ml-drop-") }
        for _ in 0..<200 where !lingering.isEmpty {
            usleep(10_000)
            lingering = threadNamesOfThisProcess().filter { $0.hasPrefix("ml-drop-") }
        }
        #expect(lingering.isEmpty)
    }
}
