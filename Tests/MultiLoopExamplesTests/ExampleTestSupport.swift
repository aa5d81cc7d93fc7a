import Testing
import MultiLoopExamples
import MultiLoopTestSupport

/// Helpers for the tutorial-example suites, in one namespace so they cannot clash with others.
enum ExampleTesting {
    /// The time scale of the output tests: the examples' delays, shortened 50 times.
    static let quickScale = 0.02

    /// The example called `name` (the test fails if there is none).
    static func example(_ name: String) throws -> TutorialExample {
        try #require(TutorialExamples.named(name), "no example called \(name)")
    }

    /// Runs `example` with its delays scaled by `scale`; returns the lines it printed and the
    /// wall-clock seconds it took.
    static func run(_ example: TutorialExample, scale: Double = quickScale) throws -> (lines: [String], seconds: Double) {
        let lines = Locked<[String]>([])
        let start = ContinuousClock.now
        try example.run(timeScale: scale) { line in lines.withLock { $0.append(line) } }
        return (lines.value, seconds(since: start))
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start).inSeconds
    }

    /// `lines` with every `HH:MM:SS` time (Python's `time.strftime('%X')`) replaced by the
    /// letters, since the times vary from run to run.
    static func maskingTimes(_ lines: [String]) throws -> [String] {
        let time = try Regex("[0-9]{2}:[0-9]{2}:[0-9]{2}")
        return lines.map { $0.replacing(time, with: "HH:MM:SS") }
    }
}
