import Testing
import MultiLoopExamples

/// The timed examples' relative timing, with their delays scaled down: awaiting one after the
/// other takes about the sum of the delays, tasks and gather about the longest one.
///
/// The machine is shared and noisy, so no absolute time is asserted with a tight bound. Lower
/// bounds (a sleep never ends early) hold on every run. Upper bounds are ratios with generous
/// margins, and noise can only add time, so such a comparison passes if one of a few runs
/// satisfies it.
@Suite("Tutorial examples: timing", .serialized, .timeLimit(.minutes(5)))
struct TutorialExampleTimingTests {
    typealias T = ExampleTesting

    /// The delays of these tests: the tutorial's seconds, shortened 10 times.
    static let scale = 0.1
    static let attempts = 3

    /// Runs `measure` up to `attempts` times until `fast` holds for what it returns; records an
    /// issue with every measurement if it never does.
    static func eventually(_ what: String, _ measure: () throws -> [Double],
                           fast: ([Double]) -> Bool) throws {
        var measured: [[Double]] = []
        for _ in 0..<attempts {
            let seconds = try measure()
            if fast(seconds) { return }
            measured.append(seconds)
        }
        Issue.record("\(what): not once in \(attempts) runs; measured (s): \(measured)")
    }

    @Test("say-after (sequential awaits) takes the sum of its delays; create-task (tasks) the longest, clearly less")
    func tasksOverlap() throws {
        try Self.eventually("create-task < 0.8 × say-after") {
            let sequential = try T.run(try T.example("say-after"), scale: Self.scale).seconds
            let concurrent = try T.run(try T.example("create-task"), scale: Self.scale).seconds
            #expect(sequential >= 3 * Self.scale, "sleeps 2 then 1")
            #expect(concurrent >= 2 * Self.scale, "the longer task sleeps 2")
            return [sequential, concurrent]
        } fast: { $0[1] < 0.8 * $0[0] }
    }

    @Test("gather (1 s and 2 s) takes about the longer delay, not the sum")
    func gatherOverlaps() throws {
        try Self.eventually("gather < 0.8 × (1 + 2)") {
            let seconds = try T.run(try T.example("gather"), scale: Self.scale).seconds
            #expect(seconds >= 2 * Self.scale)
            return [seconds]
        } fast: { $0[0] < 0.8 * 3 * Self.scale }
    }

    @Test("yield-from: two one-second computations under gather take about one second, not two")
    func yieldFromOverlaps() throws {
        try Self.eventually("yield-from < 0.8 × (1 + 1)") {
            let seconds = try T.run(try T.example("yield-from"), scale: Self.scale).seconds
            #expect(seconds >= 1 * Self.scale)
            return [seconds]
        } fast: { $0[0] < 0.8 * 2 * Self.scale }
    }

    @Test("hello-world waits its second; lock's three 0.1 s critical sections take turns: the sum")
    func sequentialWaits() throws {
        let hello = try T.run(try T.example("hello-world"), scale: Self.scale).seconds
        #expect(hello >= 1 * Self.scale)
        let lock = try T.run(try T.example("lock"), scale: Self.scale).seconds
        #expect(lock >= 3 * 0.1 * Self.scale)
    }
}
