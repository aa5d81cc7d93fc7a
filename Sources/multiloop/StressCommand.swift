#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MultiLoop
import MultiLoopStress

/// A scenario on the command line: one of `StressScenario`, or `all`.
enum ScenarioChoice: String, ExpressibleByArgument, CaseIterable {
    case fanIn = "fan-in", ring, timers, tasks, shutdown, faults, sockets, all

    var scenarios: [StressScenario] {
        self == .all ? StressScenario.allCases : [StressScenario(rawValue: rawValue)!]
    }
}

/// `multiloop stress`: runs the scenarios, checks every invariant exactly, prints a summary.
struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Hammers a loop group and checks that no work is lost, duplicated or reordered.",
        discussion: """
            Scenarios (each checks its invariants exactly, item by item):
            \(StressScenario.allCases.map { "  \($0.rawValue): \($0.help)" }.joined(separator: "\n"))
              all: every scenario in turn (the default).

            Prints a live progress line on a terminal (plain lines every 5 s otherwise) on standard error, then \
            a summary per scenario: operations, throughput, latency percentiles (HdrHistogram), wake-ups and \
            eventfd writes per operation, violations. Exit status: 0 when every invariant held, 1 on any \
            violation (the first ones are described), 2 on bad usage.
            """)

    @Argument(help: "Scenarios to run (fan-in, ring, timers, tasks, shutdown, faults, sockets, all).")
    var scenarios: [ScenarioChoice] = []

    @Option(help: "Loops in the group (default: the usable CPUs).")
    var loops: Int?

    @Option(help: "External producer threads.")
    var producers: Int = 4

    @Option(help: "Seconds for the whole run, shared equally by the scenarios (default 60).")
    var duration: Double?

    @Option(help: "Operations per scenario instead of a duration.")
    var count: Int?

    @Option(help: "Seed of every random choice (default: from the clock; printed, to repeat a run).")
    var seed: UInt64?

    @Flag(help: "Pin loop i to the i-th usable CPU.")
    var pin = false

    @Option(name: .customLong("spin-us"), help: "Each loop's spin before sleeping, in microseconds.")
    var spinMicroseconds: Int = 20

    @Flag(help: "Write the summary as one JSON document on standard output.")
    var json = false

    @Flag(help: "No progress output.")
    var quiet = false

    func validate() throws {
        if let loops, !(1...1024).contains(loops) { throw ValidationError("--loops must be 1 to 1024 (got \(loops))") }
        guard (1...1024).contains(producers) else {
            throw ValidationError("--producers must be 1 to 1024 (got \(producers))")
        }
        if let duration, !(duration.isFinite && duration > 0) {
            throw ValidationError("--duration must be a positive number of seconds (got \(duration))")
        }
        if let count, count <= 0 { throw ValidationError("--count must be positive (got \(count))") }
        if duration != nil && count != nil { throw ValidationError("give --duration or --count, not both") }
        guard (0...1_000_000).contains(spinMicroseconds) else {
            throw ValidationError("--spin-us must be 0 to 1000000 (got \(spinMicroseconds))")
        }
    }

    func run() throws {
        let chosen = scenarios.isEmpty ? StressScenario.allCases : uniqued(scenarios.flatMap(\.scenarios))
        let configuration = StressConfiguration(
            loops: loops ?? StressConfiguration.usableCPUs, producers: producers, duration: duration ?? 60, count: count,
            seed: seed ?? UInt64(truncatingIfNeeded: monotonicSeed()), pin: pin, spinMicroseconds: spinMicroseconds)
        let terminal = isatty(2) == 1
        let toStandardError: @Sendable (String) -> Void = { text in
            _ = text.withCString { write(2, $0, strlen($0)) }
        }
        let progress = StressProgress(write: quiet ? nil : toStandardError)
        let report = StressRunner.run(chosen, configuration: configuration, progress: progress,
                                      showProgress: !quiet, terminal: terminal)
        print(json ? report.renderJSON() : report.renderTable(), terminator: "")
        if !report.passed { throw ExitCode(1) }
    }

    private func uniqued(_ list: [StressScenario]) -> [StressScenario] {
        var seen = Set<StressScenario>()
        return list.filter { seen.insert($0).inserted }
    }

    private func monotonicSeed() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec &* 1_000_000_007 &+ now.tv_nsec
    }
}
