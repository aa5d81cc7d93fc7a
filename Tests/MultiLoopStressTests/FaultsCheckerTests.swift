import MultiLoop
@testable import MultiLoopStress
import MultiLoopTestSupport
import Testing

/// `FaultsChecker` fed correct records (no violation) and corrupted ones (each reported with its
/// kind), and one short run of the faults scenario.
@Suite("Faults scenario checker", .timeLimit(.minutes(5)))
struct FaultsCheckerTests {
    /// Loop 0 of 2; producers 0 and 1 are the configured ones, 2 a short-lived one.
    private func checker() -> FaultsChecker { FaultsChecker(loop: 0, loops: 2, producers: 2) }

    private func fault(_ producer: Int, _ number: Int, loop: Int = 0) -> Int {
        FaultID.callback(producer: producer, loop: loop, loops: 2, fault: number)
    }

    /// Feeds events; returns the violations they and `finish(producers:)` produced.
    private func feed(_ checker: inout FaultsChecker, producers: Int = 3,
                      _ events: (inout FaultsChecker) -> [StressViolation?]) -> [StressViolation] {
        events(&checker).compactMap { $0 } + checker.finish(producers: producers)
    }

    private func kinds(_ violations: [StressViolation]) -> [String] { violations.map(\.kind) }

    @Test("fault ids round-trip and never collide between callbacks and tasks")
    func faultIDs() {
        let id = FaultID.callback(producer: 70_000, loop: 3, loops: 4, fault: 123_456)
        #expect(FaultID.callbackParts(id, loops: 4)! == (70_000, 3, 123_456))
        #expect(FaultID.taskParts(id) == nil)
        let task = FaultID.task(producer: 70_000, task: 99)
        #expect(task < 0)
        #expect(FaultID.taskParts(task)! == (70_000, 99))
        #expect(FaultID.callbackParts(task, loops: 4) == nil)
        #expect(FaultID.task(producer: 0, task: 0) != FaultID.callback(producer: 0, loop: 0, loops: 1, fault: 0))
    }

    @Test("correct records: no violation, reports counted, late reports accepted")
    func correctRecords() {
        var checker = checker()
        let violations = feed(&checker) { c in
            [
                c.ran(producer: 0, sequence: 0),
                c.threw(producer: 0, sequence: 1, id: fault(0, 0)),
                c.reported(id: fault(0, 0)),
                c.threw(producer: 1, sequence: 0, id: fault(1, 0)),
                c.ran(producer: 0, sequence: 2),
                c.reported(id: fault(1, 0)),  // later than the throw: still fine
                c.ran(producer: 2, sequence: 0),  // the short-lived producer
                c.threw(producer: 2, sequence: 1, id: fault(2, 0)),
                c.reported(id: fault(2, 0)),
                c.ran(producer: 2, sequence: 2),
                c.ended(producer: 2, submitted: 3),  // it exited; everything it sent ran
                c.threw(producer: 0, sequence: 3, id: fault(0, 1)),
                c.reported(id: fault(0, 1)),
                c.ran(producer: 0, sequence: 4),  // the loop kept going after the faults
                c.ended(producer: 0, submitted: 5),
                c.ended(producer: 1, submitted: 1),
            ]
        }
        #expect(violations.isEmpty, "\(violations)")
        #expect(checker.thrown == 4)
        #expect(checker.reported == 4)
        #expect(checker.succeeded == 5)
    }

    @Test("task futures with their own outcome: no violation")
    func correctTasks() {
        let failing = FaultID.task(producer: 1, task: 7)
        #expect(FaultsChecker.checkTask(loop: 0, producer: 1, task: 7, fails: true,
                                        outcome: .failure(FaultError(id: failing))) == nil)
        let succeeding = FaultID.task(producer: 1, task: 8)
        #expect(FaultsChecker.checkTask(loop: 0, producer: 1, task: 8, fails: false,
                                        outcome: .success(succeeding)) == nil)
    }

    @Test("an error reported twice is 'reported twice'")
    func reportedTwice() {
        var checker = checker()
        let violations = feed(&checker, producers: 2) { c in
            [
                c.threw(producer: 0, sequence: 0, id: fault(0, 0)),
                c.reported(id: fault(0, 0)),
                c.reported(id: fault(0, 0)),
                c.ended(producer: 0, submitted: 1),
                c.ended(producer: 1, submitted: 0),
            ]
        }
        #expect(kinds(violations) == ["reported twice"])
        #expect(violations.first?.producer == 0)
        #expect(violations.first?.loop == 0)
    }

    @Test("an error never reported is 'unreported'")
    func neverReported() {
        var checker = checker()
        let violations = feed(&checker, producers: 2) { c in
            [
                c.threw(producer: 1, sequence: 0, id: fault(1, 0)),
                c.threw(producer: 1, sequence: 1, id: fault(1, 1)),
                c.reported(id: fault(1, 1)),
                c.ran(producer: 1, sequence: 2),
                c.ended(producer: 0, submitted: 0),
                c.ended(producer: 1, submitted: 3),
            ]
        }
        #expect(kinds(violations) == ["unreported"])
        #expect(violations.first?.producer == 1)
        #expect(violations.first?.sequence == 0)
    }

    @Test("an error reported that was never thrown is 'unknown error'")
    func neverThrown() {
        var checker = checker()
        let violations = feed(&checker, producers: 2) { c in
            [
                c.threw(producer: 0, sequence: 0, id: fault(0, 0)),
                c.reported(id: fault(0, 0)),
                c.reported(id: fault(0, 1)),  // the lane's second fault: never thrown
                c.reported(id: fault(1, 0)),  // a producer that threw nothing here
                c.ended(producer: 0, submitted: 1),
                c.ended(producer: 1, submitted: 0),
            ]
        }
        #expect(kinds(violations) == ["unknown error", "unknown error"])
    }

    @Test("a task's error reported to the handler, or another loop's error, is flagged")
    func misplacedReports() {
        var checker = checker()
        let violations = feed(&checker, producers: 2) { c in
            [
                c.reported(id: FaultID.task(producer: 0, task: 3)),
                c.reported(id: fault(0, 0, loop: 1)),
                c.unexpected("something else"),
                c.ended(producer: 0, submitted: 0),
                c.ended(producer: 1, submitted: 0),
            ]
        }
        #expect(kinds(violations) == ["task error reported", "wrong loop", "unexpected report"])
    }

    @Test("a failed task whose future does not carry its error is 'task error lost'")
    func taskErrorLost() {
        let id = FaultID.task(producer: 0, task: 5)
        let outcomes: [Result<Int, any Error>] = [
            .success(id),  // the error vanished: the future has a value
            .failure(FaultError(id: id + 1)),  // somebody else's error
            .failure(CancelledError()),  // cancelled instead
        ]
        for outcome in outcomes {
            let violation = FaultsChecker.checkTask(loop: 1, producer: 0, task: 5, fails: true, outcome: outcome)
            #expect(violation?.kind == "task error lost")
            #expect(violation?.sequence == 5)
            #expect(violation?.loop == 1)
        }
        let failed = FaultsChecker.checkTask(loop: 1, producer: 0, task: 6, fails: false,
                                             outcome: .failure(FaultError(id: FaultID.task(producer: 0, task: 6))))
        #expect(failed?.kind == "task failed")
        let unfinished = FaultsChecker.checkTask(loop: 1, producer: 0, task: 6, fails: true,
                                                 outcome: .failure(FutureWaitError.timedOut(seconds: 60)))
        #expect(unfinished?.kind == "unfinished")
    }

    @Test("an item of an exited producer that never ran is 'lost'")
    func exitedProducerItemLost() {
        // A gap in the middle.
        var gap = checker()
        let inMiddle = feed(&gap) { c in
            [
                c.ended(producer: 0, submitted: 0),
                c.ended(producer: 1, submitted: 0),
                c.ran(producer: 2, sequence: 0),
                c.ran(producer: 2, sequence: 2),
                c.ended(producer: 2, submitted: 3),
            ]
        }
        #expect(kinds(inMiddle) == ["lost"])
        #expect(inMiddle.first?.producer == 2)
        #expect(inMiddle.first?.sequence == 1)

        // The last item, before the end marker.
        var tail = checker()
        let atEnd = feed(&tail) { c in
            [
                c.ended(producer: 0, submitted: 0),
                c.ended(producer: 1, submitted: 0),
                c.ran(producer: 2, sequence: 0),
                c.ended(producer: 2, submitted: 2),
            ]
        }
        #expect(kinds(atEnd) == ["lost"])
        #expect(atEnd.first?.sequence == 1)

        // Nothing after the producer exited ran, not even its end marker.
        var abandoned = checker()
        let noEnd = feed(&abandoned, producers: 4) { c in
            [
                c.ended(producer: 0, submitted: 0),
                c.ended(producer: 1, submitted: 0),
                c.ran(producer: 2, sequence: 0),
                c.ended(producer: 2, submitted: 1),
            ]
        }
        #expect(kinds(noEnd) == ["lost"])
        #expect(noEnd.first?.producer == 3)
    }

    @Test("duplicates and reorders of callbacks are reported")
    func duplicateAndReorder() {
        var checker = checker()
        let violations = feed(&checker, producers: 2) { c in
            [
                c.ran(producer: 0, sequence: 0),
                c.ran(producer: 0, sequence: 0),
                c.ran(producer: 1, sequence: 1),
                c.ran(producer: 1, sequence: 0),
                c.ended(producer: 0, submitted: 1),
                c.ended(producer: 1, submitted: 2),
            ]
        }
        #expect(kinds(violations) == ["duplicate", "lost", "reordered"])
    }

    @Test("a short faults run: every invariant holds")
    func shortRun() async {
        let result = await offThePool {
            StressScenario.faults.run(StressConfiguration(loops: 2, producers: 2, duration: 0.3),
                                      progress: StressProgress(write: nil))
        }
        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations > 0)
        #expect((result.details["errors reported"] ?? 0) > 0)
        #expect((result.details["tasks failed"] ?? 0) > 0)
        #expect((result.details["producers exited"] ?? 0) > 0)
    }
}
