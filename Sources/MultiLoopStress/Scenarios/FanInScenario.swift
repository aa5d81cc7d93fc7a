#if canImport(Glibc)
import Glibc
#endif
import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

/// P producer threads push sequence-numbered callbacks with `execute` to the loops of a group,
/// round-robin; each loop checks its share as it runs it (`FanInChecker`).
enum FanInScenario {
    /// How far a producer may run ahead of the loops (items sent and not yet run). Without a
    /// bound, producers that outrun the loops would queue work until memory runs out; with it,
    /// the latency measured is that of a saturated group with this much queued per producer.
    static let window = 2_048

    /// Per loop, touched by that loop's thread only; `ran[p]` is also read by producer `p`.
    final class LoopState: @unchecked Sendable {
        var checker: FanInChecker
        let latency: LatencyRecorder
        /// Items of each producer this loop has run (written by the loop, read by the producer).
        let ran: [StressCounter]

        init(checker: FanInChecker, latency: LatencyRecorder, producers: Int) {
            self.checker = checker
            self.latency = latency
            ran = (0..<producers).map { _ in StressCounter() }
        }
    }

    static func run(_ context: ScenarioContext) throws -> ScenarioOutcome {
        let configuration = context.configuration
        let group = try configuration.makeGroup(name: "fanin")
        let loops = group.loops
        let states = loops.indices.map { index in
            LoopState(checker: FanInChecker(loop: index, loops: loops.count, producers: configuration.producers),
                      latency: context.latencies.make(), producers: configuration.producers)
        }
        let submitted = LoopConfined([Int](repeating: 0, count: configuration.producers))
        let submittedLock = PThreadMutex()
        PThread.runAll(configuration.producers, name: "ml-fanin") { producer in
            let share = context.share(of: configuration.producers, index: producer)
            var sequence = 0
            while context.shouldContinue(done: sequence, share: share) {
                // A batch between clock reads: the check costs a clock read per 256 items.
                let batchStart = sequence
                let batchEnd = share.map { min($0, sequence + 256) } ?? sequence + 256
                while sequence < batchEnd {
                    let target = sequence % loops.count
                    let state = states[target]
                    let stamp = monotonicNanoseconds()
                    let number = sequence
                    do {
                        try loops[target].execute {
                            state.latency.record(nanoseconds: monotonicNanoseconds() - stamp)
                            if let violation = state.checker.observe(producer: producer, sequence: number) {
                                context.violations.record(violation)
                            }
                            state.ran[producer].add()
                        }
                    } catch {
                        context.violation("refused", loop: target, producer: producer, sequence: number,
                                          expected: "a running loop to accept the callback", seen: "\(error)")
                    }
                    sequence += 1
                }
                context.progress.addOperations(sequence - batchStart)
                // Back-pressure: wait while this producer is more than a window ahead.
                while sequence - states.reduce(0, { $0 + $1.ran[producer].value }) > window {
                    sched_yield()
                }
            }
            submittedLock.withLock { submitted.value[producer] = sequence }
        }
        try group.syncShutdownGracefully()  // runs everything accepted, joins the loop threads
        let counts = submittedLock.withLock { submitted.value }
        for state in states { context.violations.record(state.checker.finish(submitted: counts)) }
        let total = counts.reduce(0, +)
        let executed = states.reduce(0) { $0 + $1.checker.seen }
        if executed != total {
            context.violation("count", expected: "\(total) callbacks run", seen: "\(executed)")
        }
        return ScenarioOutcome(operations: UInt64(total), statistics: group.statistics.total,
                               details: ["callbacks": total])
    }
}
