import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

/// Rounds of: a fresh group, producers submitting closures and (one in six) tasks as fast as they
/// can, and a shutdown from this thread in the middle of it; `ShutdownChecker` balances each
/// round's books.
enum ShutdownScenario {
    static func run(_ context: ScenarioContext) throws -> ScenarioOutcome {
        let configuration = context.configuration
        let shutdownLatency = context.latencies.make()  // this thread only
        var statistics = EventLoopStatistics()
        var operations = 0
        var round = 0
        var random = context.random(stream: 0)
        while context.shouldContinue(done: operations, share: configuration.count) {
            let (books, accepted, groupStatistics, nanoseconds) = try runRound(round, context: context,
                                                                               random: &random)
            context.violations.record(ShutdownChecker.check(books))
            shutdownLatency.record(nanoseconds: nanoseconds)
            statistics.accumulate(groupStatistics)
            operations += accepted
            context.progress.addOperations(accepted)
            round += 1
        }
        return ScenarioOutcome(operations: UInt64(operations), statistics: statistics, details: ["rounds": round])
    }

    /// One round; returns its books, the submissions accepted, the group's counters and how long
    /// the shutdown took.
    private static func runRound(_ round: Int, context: ScenarioContext, random: inout StressRandom)
        throws -> (ShutdownRound, Int, EventLoopStatistics, Int64) {
        let group = try context.configuration.makeGroup(name: "shut")
        let load = GroupShutdownLoad()
        let futuresLock = PThreadMutex()
        let futures = LoopConfined([Future<Int>]())
        let producers = context.configuration.producers
        // How many submissions each producer makes before the shutdown may start: varies by
        // round, so the shutdown meets the loops in different states.
        let warmUp = 1 + random.below(200)
        let threads = (0..<producers).map { producer in
            PThread(name: "ml-shut-\(producer)") {
                // Each producer stops at its first refusal (`.shutDown`).
                let mine = load.produce(producer, group: group, warmUp: warmUp).futures
                futuresLock.withLock { futures.value += mine }
            }
        }
        while load.started.value < producers { sched_yield() }
        let begin = monotonicNanoseconds()
        let report = try group.syncShutdownGracefully()
        let took = monotonicNanoseconds() - begin
        // The producers stop at their first refusal, which the shutdown's first step guarantees.
        for thread in threads { thread.join() }
        let all = futuresLock.withLock { futures.value }
        // Every future's state as the shutdown left it, before anything else could touch it.
        let pending = all.filter { !$0.isDone }.count
        load.returned.set()
        let cancelled = all.filter(\.isCancelled).count
        let books = ShutdownRound(
            round: round, acceptedClosures: load.acceptedClosures.value, closuresRun: load.closuresRun.value,
            acceptedTasks: all.count, tasksCompleted: load.tasksRun.value, tasksCancelled: cancelled,
            futuresPending: pending, ranAfterShutdown: load.ranAfter.value,
            reportedCancelled: report.tasksCancelled + report.submissionsCancelled,
            reportedAbandoned: report.tasksAbandoned)
        return (books, load.acceptedClosures.value + all.count, group.statistics.total, took)
    }
}

#if canImport(Glibc)
import Glibc
#endif
