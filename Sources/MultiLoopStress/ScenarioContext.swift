import MultiLoop
import MultiLoopTestSupport

/// What a scenario gets to run with, and what it hands back.
final class ScenarioContext: @unchecked Sendable {
    let scenario: StressScenario
    let configuration: StressConfiguration
    let violations: ViolationLog
    let latencies = LatencyRecorders()
    let progress: StressProgress
    /// When the scenario should stop, in duration mode.
    let deadline: Int64

    init(scenario: StressScenario, configuration: StressConfiguration, progress: StressProgress) {
        self.scenario = scenario
        self.configuration = configuration
        self.progress = progress
        self.violations = ViolationLog(progress: progress)
        deadline = monotonicNanoseconds() + Int64(configuration.duration * 1e9)
    }

    /// In count mode, the operations to do (split over `parts` workers: this worker's share);
    /// nil in duration mode.
    func share(of parts: Int, index: Int) -> Int? {
        guard let count = configuration.count else { return nil }
        return count / parts + (index < count % parts ? 1 : 0)
    }

    /// Whether a worker that has done `done` of its `share` should go on.
    func shouldContinue(done: Int, share: Int?) -> Bool {
        if let share { return done < share }
        return monotonicNanoseconds() < deadline
    }

    /// Whether the time is up (duration mode only; count mode decides by counts).
    var timeIsUp: Bool { configuration.count == nil && monotonicNanoseconds() >= deadline }

    /// Records a violation of this scenario.
    func violation(_ kind: String, loop: Int? = nil, producer: Int? = nil, sequence: Int? = nil,
                   expected: String, seen: String) {
        violations.record(StressViolation(scenario: scenario.rawValue, kind: kind, loop: loop, producer: producer,
                                          sequence: sequence, expected: expected, seen: seen))
    }

    func random(stream: Int) -> StressRandom { StressRandom.stream(configuration.seed, stream) }
}

/// What a scenario's body returns besides its violations and latencies.
struct ScenarioOutcome {
    var operations: UInt64
    /// The loops' counters over the scenario (summed over its groups).
    var statistics: EventLoopStatistics
    var details: [String: Int] = [:]
}
