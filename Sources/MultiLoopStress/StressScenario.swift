import MultiLoop

/// The scenarios of `multiloop stress`. Each checks its invariants exactly (every item is
/// accounted for), not statistically.
public enum StressScenario: String, CaseIterable, Sendable, Codable {
    case fanIn = "fan-in"
    case ring
    case timers
    case tasks
    case shutdown
    case faults
    case sockets

    /// One paragraph for `--help`.
    public var help: String {
        switch self {
        case .fanIn:
            return "P producer threads push sequence-numbered callbacks (execute) to the loops, round-robin, as fast "
                + "as they can. Every callback runs exactly once, in FIFO order per producer per loop. Latency: "
                + "submission to execution."
        case .ring:
            return "Tokens travel around the loops: a task of loop i awaits a future that loop i+1 completes, then "
                + "hands the token on. No hop is lost or repeated. Latency: one cross-loop round trip."
        case .timers:
            return "Loop callbacks and foreign threads set timers with random delays (0-20 ms) and cancel about a "
                + "third of them at random, from the loop and from other threads. Every timer not cancelled fires "
                + "once, never before its deadline, in deadline order (FIFO for equal deadlines); a cancelled one "
                + "never fires. Latency: lateness after the deadline."
        case .tasks:
            return "Tasks on every loop contend on a Lock, a Semaphore and an AsyncQueue per loop, some cancelled at "
                + "random. Mutual exclusion always holds, the counters are exact, and no waiter is left behind. "
                + "Latency: waiting for the lock."
        case .shutdown:
            return "Rounds of: producers submit closures and tasks to a fresh group while it shuts down. Accepted "
                + "work == executed + reported cancelled, nothing runs after the shutdown returns, every future "
                + "completes. Latency: the shutdown itself."
        case .faults:
            return "Callbacks that throw, tasks that fail, producer threads that exit mid-stream. The loops keep "
                + "going, every error is reported exactly once, and the work of exited producers all runs. "
                + "Latency: submission to execution."
        case .sockets:
            return "Echo servers (TCP on 127.0.0.1 and Unix) on the group, loops x 8 clients on its loops and on "
                + "their own, messages of 1 byte to 64 KiB; connections reset, closed early and half-closed at "
                + "random, and the servers restarted. Every reply is the message sent on that connection, every "
                + "byte once, in order; a connection's replies are all its messages unless it was cut (then a "
                + "prefix); every closed server reports its connections closed; no descriptor leaks. Latency: one "
                + "message's round trip."
        }
    }

    /// Runs the scenario for `configuration.duration` seconds (or `count` operations) and checks it.
    public func run(_ configuration: StressConfiguration, progress: StressProgress) -> StressScenarioResult {
        let context = ScenarioContext(scenario: self, configuration: configuration, progress: progress)
        progress.begin(rawValue)
        let start = monotonicNanoseconds()
        var outcome: ScenarioOutcome
        do {
            switch self {
            case .fanIn: outcome = try FanInScenario.run(context)
            case .ring: outcome = try RingScenario.run(context)
            case .timers: outcome = try TimersScenario.run(context)
            case .tasks: outcome = try TasksScenario.run(context)
            case .shutdown: outcome = try ShutdownScenario.run(context)
            case .faults: outcome = try FaultsScenario.run(context)
            case .sockets: outcome = try SocketsScenario.run(context)
            }
        } catch {
            context.violation("scenario could not run", expected: "to start", seen: "\(error)")
            outcome = ScenarioOutcome(operations: 0, statistics: EventLoopStatistics())
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let operations = Double(max(outcome.operations, 1))
        return StressScenarioResult(
            scenario: rawValue, operations: outcome.operations, seconds: seconds,
            operationsPerSecond: seconds > 0 ? Double(outcome.operations) / seconds : 0,
            latency: context.latencies.merged().map(LatencySummary.init),
            wakeupsPerOperation: Double(outcome.statistics.wakeups) / operations,
            eventfdWritesPerOperation: Double(outcome.statistics.eventfdWrites) / operations,
            violationCount: context.violations.count, violations: context.violations.firstFew,
            details: outcome.details)
    }
}

/// Runs scenarios one after the other, with progress, into one report.
public enum StressRunner {
    public static func run(_ scenarios: [StressScenario], configuration: StressConfiguration,
                           progress: StressProgress, showProgress: Bool, terminal: Bool) -> StressReport {
        let reporter = showProgress ? progress.startReporter(terminal: terminal) : nil
        defer {
            reporter?.stop.set()
            reporter?.thread.join()
        }
        // The duration is the whole run's: each scenario gets an equal share.
        var perScenario = configuration
        perScenario.duration = configuration.duration / Double(max(1, scenarios.count))
        return StressReport(configuration: configuration,
                            scenarios: scenarios.map { $0.run(perScenario, progress: progress) })
    }
}
