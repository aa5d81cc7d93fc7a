import Testing
@testable import MultiLoopStress
import MultiLoopTestSupport

/// The timer checker must be able to fail: it is fed a correct history of one loop's timers,
/// then the same history with one deliberate corruption at a time.
@Suite("Stress checkers: timers", .timeLimit(.minutes(5)))
struct TimerCheckerTests {
    typealias Record = TimerChecker.Record
    typealias Firing = TimerChecker.Firing

    private static func loopSide(_ index: Int, setIn iteration: Int, deadline: Double,
                                 _ firings: [Firing], cancelWon: Bool = false) -> Record {
        Record(source: .loop(index: index, iteration: iteration), deadline: deadline, cancelWon: cancelWon,
               firings: firings)
    }

    private static func foreign(_ producer: Int, _ sequence: Int, deadline: Double, _ firings: [Firing],
                                cancelWon: Bool = false) -> Record {
        Record(source: .foreign(producer: producer, sequence: sequence), deadline: deadline, cancelWon: cancelWon,
               firings: firings)
    }

    private static func fired(at time: Double, iteration: Int, order: Int) -> [Firing] {
        [Firing(time: time, iteration: iteration, order: order)]
    }

    /// A correct history: loop-side and foreign timers, equal deadlines fired FIFO, one timer
    /// whose cancel won, and the producers' marks.
    private static let correct: [Record] = [
        loopSide(0, setIn: 0, deadline: 1.0, fired(at: 1.1, iteration: 1, order: 0)),
        foreign(0, 2, deadline: 1.5, fired(at: 1.6, iteration: 1, order: 1)),
        loopSide(1, setIn: 0, deadline: 2.0, fired(at: 2.0, iteration: 2, order: 2)),
        foreign(0, 0, deadline: 2.5, fired(at: 2.7, iteration: 3, order: 3)),
        foreign(0, 1, deadline: 2.5, fired(at: 2.7, iteration: 3, order: 4)),
        foreign(1, 0, deadline: 2.5, fired(at: 2.7, iteration: 3, order: 5)),
        loopSide(2, setIn: 1, deadline: 3.0, fired(at: 3.0, iteration: 4, order: 6)),
        loopSide(3, setIn: 1, deadline: 3.0, fired(at: 3.0, iteration: 4, order: 7)),
        loopSide(4, setIn: 2, deadline: 2.8, [], cancelWon: true),
        foreign(1, 1, deadline: 0.5, [], cancelWon: true),
    ]
    private static let marks = [TimerChecker.Mark(producer: 0, sequence: 3, iteration: 1),
                                TimerChecker.Mark(producer: 1, sequence: 2, iteration: 2)]

    private func check(_ records: [Record], marks: [TimerChecker.Mark] = TimerCheckerTests.marks)
        -> [StressViolation] {
        TimerChecker.check(loop: 1, timers: records, marks: marks)
    }

    /// `records` with record `index` changed.
    private func changed(_ records: [Record], _ index: Int, _ change: (inout Record) -> Void) -> [Record] {
        var records = records
        change(&records[index])
        return records
    }

    /// The correct history with record `index` changed.
    private func corrupt(_ index: Int, _ change: (inout Record) -> Void) -> [Record] {
        changed(Self.correct, index, change)
    }

    @Test("a correct history passes")
    func correct() {
        #expect(check(Self.correct).isEmpty)
        #expect(check(Self.correct, marks: []).isEmpty)
        #expect(check([]).isEmpty)
    }

    @Test("a timer that fired before its deadline is reported early")
    func early() {
        let violations = check(corrupt(2) { $0.firings[0].time = 1.999_999 })
        #expect(violations.map(\.kind) == ["early"])
        #expect(violations.first?.scenario == "timers")
        #expect(violations.first?.loop == 1 && violations.first?.producer == nil && violations.first?.sequence == 1)
    }

    @Test("a timer that fired twice is reported")
    func firedTwice() {
        let violations = check(corrupt(3) { $0.firings.append(Firing(time: 2.8, iteration: 5, order: 8)) })
        #expect(violations.map(\.kind) == ["fired twice"])
        #expect(violations.first?.producer == 0 && violations.first?.sequence == 0)
    }

    @Test("a timer that never fired, though no cancel won, is lost")
    func lost() {
        let violations = check(corrupt(6) { $0.firings = [] })
        #expect(violations.map(\.kind) == ["lost"])
        #expect(violations.first?.sequence == 2)
        // A cancel that lost does not excuse it either (`cancelWon` stays false).
        #expect(check(corrupt(5) { $0.firings = [] }).map(\.kind) == ["lost"])
    }

    @Test("a timer whose cancel won and that fired anyway is reported")
    func firedAfterCancel() {
        let violations = check(corrupt(0) { $0.cancelWon = true })
        #expect(violations.map(\.kind) == ["fired after cancel"])
        #expect(violations.first?.sequence == 0)
    }

    @Test("a later deadline fired before an earlier one that was already in the heap")
    func laterDeadlineFirst() {
        // Loop-side timers 0 and 1, both set in iteration 0: 1 (deadline 2.0) fires first.
        let records = [
            Self.loopSide(0, setIn: 0, deadline: 1.0, Self.fired(at: 2.1, iteration: 2, order: 1)),
            Self.loopSide(1, setIn: 0, deadline: 2.0, Self.fired(at: 2.1, iteration: 2, order: 0)),
        ]
        let violations = check(records)
        #expect(violations.map(\.kind) == ["out of order"])
        #expect(violations.first?.sequence == 1)  // the one that fired too soon
        // In the correct history: loop-side timer 1 (deadline 2.0) fires in iteration 1, before
        // producer 0's item 2 (deadline 1.5, in the heap by then: its item 3 ran in iteration 1).
        let swapped = changed(corrupt(2) { $0.firings = Self.fired(at: 2.0, iteration: 1, order: 1) }, 1) {
            $0.firings = Self.fired(at: 1.6, iteration: 1, order: 2)
        }
        let inHistory = check(swapped)
        #expect(inHistory.map(\.kind) == ["out of order"])
        #expect(inHistory.first?.producer == nil && inHistory.first?.sequence == 1)
    }

    @Test("timers whose arrival is unknown are never compared")
    func unknownArrivalIsNotCompared() {
        // Loop-side timer 0 was set in iteration 2, after timer 1 fired in iteration 2: it was not
        // in the heap then, so its earlier deadline proves nothing.
        #expect(check([
            Self.loopSide(0, setIn: 2, deadline: 1.0, Self.fired(at: 3.1, iteration: 3, order: 1)),
            Self.loopSide(1, setIn: 0, deadline: 2.0, Self.fired(at: 2.1, iteration: 2, order: 0)),
        ]).isEmpty)
        // A producer's timer with nothing later from that producer known to have arrived: it may
        // have reached the loop after the other fired.
        #expect(check([
            Self.foreign(0, 0, deadline: 1.0, Self.fired(at: 3.1, iteration: 3, order: 1)),
            Self.loopSide(0, setIn: 0, deadline: 2.0, Self.fired(at: 2.1, iteration: 2, order: 0)),
        ], marks: []).isEmpty)
        // Equal deadlines from two producers: their relative arrival is unknown.
        #expect(check([
            Self.foreign(0, 0, deadline: 2.0, Self.fired(at: 2.1, iteration: 2, order: 1)),
            Self.foreign(1, 0, deadline: 2.0, Self.fired(at: 2.1, iteration: 2, order: 0)),
        ], marks: []).isEmpty)
    }

    @Test("a producer's later item proves its earlier timer was in the heap")
    func markProvesArrival() {
        // Producer 0's item 1 (a callback) ran in iteration 1, so its timer 0 (deadline 1.0) was
        // in the heap when loop-side timer 0 (deadline 2.0) fired in iteration 2.
        let records = [
            Self.foreign(0, 0, deadline: 1.0, Self.fired(at: 3.1, iteration: 3, order: 1)),
            Self.loopSide(0, setIn: 0, deadline: 2.0, Self.fired(at: 2.1, iteration: 2, order: 0)),
        ]
        let violations = check(records, marks: [TimerChecker.Mark(producer: 0, sequence: 1, iteration: 1)])
        #expect(violations.map(\.kind) == ["out of order"])
        #expect(check(records, marks: []).isEmpty)
        // So does a later timer of the same producer that fired: here in iteration 2, before
        // producer 0's timer 0 (deadline 1.0), as loop-side timer 0 did.
        let byTimer = [
            Self.foreign(0, 0, deadline: 1.0, Self.fired(at: 3.1, iteration: 3, order: 2)),
            Self.loopSide(0, setIn: 0, deadline: 2.0, Self.fired(at: 2.1, iteration: 2, order: 0)),
            Self.foreign(0, 1, deadline: 2.05, Self.fired(at: 2.1, iteration: 2, order: 1)),
        ]
        let violations2 = check(byTimer, marks: [])
        #expect(violations2.map(\.kind) == ["out of order", "out of order"])
        #expect(Set(violations2.map(\.producer)) == [nil, 0])
    }

    @Test("equal deadlines from the same source fired out of FIFO order are reported")
    func equalDeadlinesOutOfFIFO() {
        // Producer 0's items 0 and 1 (deadline 2.5) swapped.
        let foreign = check(changed(corrupt(3) { $0.firings[0].order = 4 }, 4) { $0.firings[0].order = 3 })
        #expect(foreign.map(\.kind) == ["out of order"])
        #expect(foreign.first?.producer == 0 && foreign.first?.sequence == 1)
        // Loop-side timers 2 and 3 (deadline 3.0) swapped.
        let loopSide = check(changed(corrupt(6) { $0.firings[0].order = 7 }, 7) { $0.firings[0].order = 6 })
        #expect(loopSide.map(\.kind) == ["out of order"])
        #expect(loopSide.first?.producer == nil && loopSide.first?.sequence == 3)
        // A producer's timer known in the heap before a loop-side timer with its deadline was set.
        let mixed = check([
            Self.foreign(0, 0, deadline: 3.0, Self.fired(at: 3.0, iteration: 2, order: 1)),
            Self.loopSide(0, setIn: 1, deadline: 3.0, Self.fired(at: 3.0, iteration: 2, order: 0)),
        ], marks: [TimerChecker.Mark(producer: 0, sequence: 1, iteration: 1)])
        #expect(mixed.map(\.kind) == ["out of order"])
    }

    @Test("a short run of the timers scenario holds every invariant")
    func shortRun() async {
        let configuration = StressConfiguration(loops: 2, producers: 2, duration: 0.3)
        let result = await offThePool { StressScenario.timers.run(configuration, progress: StressProgress(write: nil)) }

        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations > 0)
        #expect(result.details["cancelled", default: 0] > 0)
        #expect(result.details["fired", default: 0] + result.details["cancelled", default: 0]
                    == result.details["timers", default: -1])
    }

    @Test("in count mode the scenario sets at least the timers asked for")
    func countMode() async {
        let configuration = StressConfiguration(loops: 3, producers: 3, count: 3_000, seed: 11)
        let result = await offThePool { StressScenario.timers.run(configuration, progress: StressProgress(write: nil)) }

        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations >= 3_000)
    }
}
