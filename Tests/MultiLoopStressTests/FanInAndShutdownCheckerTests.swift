import Testing
@testable import MultiLoopStress

/// The checkers must be able to fail: each is fed records with one deliberate corruption.
@Suite("Stress checkers: fan-in and shutdown", .timeLimit(.minutes(5)))
struct FanInAndShutdownCheckerTests {
    /// Loop 1 of 3, producer 0: expects 1, 4, 7, 10, ...
    private func feed(_ sequences: [Int], submitted: Int = 12) -> [StressViolation] {
        var checker = FanInChecker(loop: 1, loops: 3, producers: 2)
        var violations = sequences.compactMap { checker.observe(producer: 0, sequence: $0) }
        violations += checker.finish(submitted: [submitted, 0])
        return violations
    }

    @Test("a correct stream passes")
    func correct() {
        #expect(feed([1, 4, 7, 10]).isEmpty)
        #expect(feed([1, 4, 7], submitted: 9).isEmpty)
        #expect(feed([], submitted: 1).isEmpty)  // producer 0's only item went to loop 0
    }

    @Test("a lost item in the middle is reported where it went missing")
    func lostInTheMiddle() {
        let violations = feed([1, 7, 10])
        #expect(violations.map(\.kind) == ["lost"])
        #expect(violations.first?.sequence == 4)
        #expect(violations.first?.loop == 1 && violations.first?.producer == 0)
    }

    @Test("a lost item at the end is found by finish")
    func lostAtTheEnd() {
        let violations = feed([1, 4, 7])
        #expect(violations.map(\.kind) == ["lost"])
        #expect(violations.first?.expected == "items up to 10")
    }

    @Test("a duplicate is reported")
    func duplicate() {
        #expect(feed([1, 4, 4, 7, 10]).map(\.kind) == ["duplicate"])
    }

    @Test("a reorder is reported")
    func reorder() {
        let violations = feed([1, 7, 4, 10])
        #expect(violations.map(\.kind) == ["lost", "reordered"])
    }

    @Test("an item on the wrong loop is reported")
    func misrouted() {
        #expect(feed([1, 4, 5, 7, 10]).map(\.kind) == ["misrouted"])
    }

    private let balanced = ShutdownRound(
        round: 3, acceptedClosures: 100, closuresRun: 100, acceptedTasks: 20, tasksCompleted: 15,
        tasksCancelled: 5, futuresPending: 0, ranAfterShutdown: 0, reportedCancelled: 5, reportedAbandoned: 0)

    @Test("balanced shutdown books pass")
    func shutdownBalanced() {
        #expect(ShutdownChecker.check(balanced).isEmpty)
    }

    @Test("each unbalanced shutdown book is reported",
          arguments: ["lost", "duplicate", "unaccounted", "future pending", "ran after shutdown", "abandoned"])
    func shutdownUnbalanced(kind: String) {
        var books = balanced
        switch kind {
        case "lost": books.closuresRun = 99
        case "duplicate": books.closuresRun = 101
        case "unaccounted": books.tasksCompleted = 14
        case "future pending": books.futuresPending = 1
        case "ran after shutdown": books.ranAfterShutdown = 1
        default: books.reportedAbandoned = 1
        }
        let violations = ShutdownChecker.check(books)
        #expect(violations.map(\.kind) == [kind])
        #expect(violations.first?.sequence == 3)
    }

    @Test("cancelled futures that the report does not count are reported")
    func shutdownReportMismatch() {
        var books = balanced
        books.reportedCancelled = 4
        #expect(ShutdownChecker.check(books).map(\.kind) == ["report"])
    }
}
