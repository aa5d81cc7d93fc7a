import Testing
@testable import MultiLoopStress
import MultiLoopTestSupport

/// A clean record of the tasks scenario for one loop: 2 lockers, 1 semaphore user, 1 producer,
/// 1 consumer; items 0..<4 put (item 3's put cancelled), 0..<2 got by the consumer, 2 drained.
private func cleanTasksRecord() -> TasksChecker.LoopRecord {
    var record = TasksChecker.LoopRecord(loop: 1)
    record.maxInsideLock = 1
    record.maxSemaphoreHolders = 3
    record.lockSections = 7
    record.semaphoreSections = 5
    record.itemsPut = 3
    record.itemsGot = 2
    record.itemsDrained = 1
    var lockerA = TasksChecker.TaskTally(role: .locker)
    lockerA.lockSections = 4
    var lockerB = TasksChecker.TaskTally(role: .locker)
    lockerB.lockSections = 3
    lockerB.cancelled = true
    var semaphore = TasksChecker.TaskTally(role: .semaphore)
    semaphore.semaphoreSections = 5
    var producer = TasksChecker.TaskTally(role: .producer)
    producer.puts = 3
    producer.cancelled = true
    var consumer = TasksChecker.TaskTally(role: .consumer)
    consumer.gets = 2
    record.tallies = [lockerA, lockerB, semaphore, producer, consumer].map { tally in
        var tally = tally
        tally.finished = true
        return tally
    }
    record.putOutcomes = [.put, .put, .put, .cancelled]
    record.getCounts = [1, 1, 1, 0]
    return record
}

private func kinds(_ violations: [StressViolation]) -> [String] { violations.map(\.kind) }

@Suite("Stress: tasks checker", .timeLimit(.minutes(5)))
struct TasksCheckerTests {
    let checker = TasksChecker(semaphoreLimit: 3)

    @Test("a clean record has no violation")
    func clean() {
        #expect(checker.check(cleanTasksRecord()).isEmpty)
        #expect(checker.check(TasksChecker.LoopRecord(loop: 0)).isEmpty)
    }

    @Test("two tasks inside the lock at once")
    func twoInsideTheLock() throws {
        var record = cleanTasksRecord()
        record.maxInsideLock = 2
        let violations = checker.check(record)
        #expect(kinds(violations) == ["mutual exclusion"])
        let violation = try #require(violations.first)
        #expect(violation.scenario == "tasks" && violation.loop == 1 && violation.seen == "2 at once")
    }

    @Test("more than N semaphore holders")
    func tooManyHolders() {
        var record = cleanTasksRecord()
        record.maxSemaphoreHolders = 4
        #expect(kinds(checker.check(record)) == ["too many holders"])
    }

    @Test("a counter off by one", arguments: 0..<4)
    func counterOffByOne(which: Int) {
        var record = cleanTasksRecord()
        switch which {
        case 0: record.lockSections += 1
        case 1: record.tallies[2].semaphoreSections -= 1
        case 2: record.tallies[4].gets += 1
        default: record.semaphoreSections -= 1
        }
        #expect(kinds(checker.check(record)) == ["count mismatch"])
    }

    @Test("items: lost, got twice, got although its put was cancelled, unknown")
    func items() {
        var lost = cleanTasksRecord()
        lost.getCounts[1] = 0
        lost.itemsDrained = 0
        #expect(kinds(checker.check(lost)) == ["item count", "lost item"])

        var duplicate = cleanTasksRecord()
        duplicate.getCounts[2] = 2
        duplicate.itemsDrained = 2
        #expect(kinds(checker.check(duplicate)) == ["item count", "duplicate item"])

        var phantom = cleanTasksRecord()
        phantom.getCounts[3] = 1
        phantom.itemsDrained = 2
        #expect(kinds(checker.check(phantom)) == ["item count", "phantom item"])

        var unknown = cleanTasksRecord()
        unknown.unknownItems = [99]
        #expect(kinds(checker.check(unknown)) == ["phantom item"])

        var pending = cleanTasksRecord()
        pending.putOutcomes[3] = .pending
        #expect(kinds(checker.check(pending)) == ["unfinished put"])
    }

    @Test("a waiter left behind, the lock left locked, an item left, a task unfinished")
    func leftBehind() {
        for waiter in 0..<4 {
            var record = cleanTasksRecord()
            switch waiter {
            case 0: record.lockWaiters = 1
            case 1: record.semaphoreWaiters = 2
            case 2: record.queueGetters = 1
            default: record.queuePutters = 1
            }
            #expect(kinds(checker.check(record)) == ["waiter left"], "waiter \(waiter)")
        }
        var locked = cleanTasksRecord()
        locked.lockLocked = true
        #expect(kinds(checker.check(locked)) == ["left locked"])

        var inside = cleanTasksRecord()
        inside.insideLockAtEnd = 1
        #expect(kinds(checker.check(inside)) == ["left inside"])

        var item = cleanTasksRecord()
        item.queueCount = 1
        #expect(kinds(checker.check(item)) == ["item left"])

        var unjoined = cleanTasksRecord()
        unjoined.queueJoined = false
        #expect(kinds(checker.check(unjoined)) == ["unfinished items"])

        var unfinished = cleanTasksRecord()
        unfinished.tallies[3].finished = false
        let violations = checker.check(unfinished)
        #expect(kinds(violations) == ["unfinished task"])
        #expect(violations.first?.producer == 3)

        var elsewhere = cleanTasksRecord()
        elsewhere.wrongLoop = 1
        #expect(kinds(checker.check(elsewhere)) == ["wrong loop"])
    }

    @Test("the real scenario, briefly: no violation")
    func scenario() async {
        let result = await offThePool {
            StressScenario.tasks.run(StressConfiguration(loops: 2, producers: 2, duration: 0.3),
                                     progress: StressProgress(write: nil))
        }
        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations > 0)
        #expect((result.details["itemsPut"] ?? 0) > 0)
        #expect(result.latency != nil)
    }

    @Test("the real scenario in count mode does exactly the count")
    func scenarioCount() async {
        let result = await offThePool {
            StressScenario.tasks.run(StressConfiguration(loops: 3, producers: 2, count: 1_001),
                                     progress: StressProgress(write: nil))
        }
        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations == 1_001)
    }
}

/// A clean ring: 2 loops, token 0 from loop 0 (3 hops), token 1 from loop 1 (2 hops).
private struct CleanRing {
    let checker = RingChecker(loops: 2)
    var tokens: [RingChecker.Token]
    var arrivals: [[RingChecker.Arrival]]

    init() {
        var tokens: [RingChecker.Token] = []
        var arrivals: [[RingChecker.Arrival]] = [[], []]
        for (index, (start, sent)) in [(0, 3), (1, 2)].enumerated() {
            var token = RingChecker.Token(index: index, start: start, sent: sent, hops: [])
            for sequence in 0..<sent {
                let from = (start + sequence) % 2
                let to = (from + 1) % 2
                token.hops.append(RingChecker.Hop(sequence: sequence, from: from, ranOn: to, resumedOn: from,
                                                  continuedOn: to))
                arrivals[to].append(RingChecker.Arrival(token: index, sequence: sequence))
            }
            tokens.append(token)
        }
        self.tokens = tokens
        self.arrivals = arrivals
    }

    func check() -> [StressViolation] { checker.check(tokens: tokens, arrivals: arrivals) }
}

@Suite("Stress: ring checker", .timeLimit(.minutes(5)))
struct RingCheckerTests {
    @Test("a clean ring has no violation")
    func clean() {
        #expect(CleanRing().check().isEmpty)
        #expect(RingChecker(loops: 1).check(tokens: [RingChecker.Token(index: 0, start: 0, sent: 0, hops: [])],
                                            arrivals: [[]]).isEmpty)
    }

    @Test("a lost hop: missing from the token's log, from the arrivals, or at the end")
    func lostHop() throws {
        var middle = CleanRing()
        middle.tokens[0].hops.remove(at: 1)
        let violations = middle.check()
        #expect(kinds(violations) == ["lost hop"])
        let violation = try #require(violations.first)
        #expect(violation.scenario == "ring" && violation.producer == 0 && violation.sequence == 1)

        var arrival = CleanRing()
        arrival.arrivals[1].removeAll { $0 == RingChecker.Arrival(token: 0, sequence: 0) }
        #expect(kinds(arrival.check()) == ["lost hop"])

        var last = CleanRing()
        last.tokens[1].hops.removeLast()
        last.arrivals[1].removeAll { $0 == RingChecker.Arrival(token: 1, sequence: 1) }
        #expect(kinds(last.check()) == ["lost hop", "lost hop"])

        var stranded = CleanRing()
        stranded.tokens[0].hops[2].continuedOn = nil
        #expect(kinds(stranded.check()) == ["lost hop"])
    }

    @Test("a repeated hop: in the token's log, or a closure run twice")
    func repeatedHop() throws {
        var logged = CleanRing()
        logged.tokens[0].hops.insert(logged.tokens[0].hops[1], at: 2)
        let violations = logged.check()
        #expect(kinds(violations) == ["repeated hop"])
        #expect(violations.first?.sequence == 1)

        var twice = CleanRing()
        twice.arrivals[1].append(RingChecker.Arrival(token: 0, sequence: 2))
        #expect(kinds(twice.check()) == ["repeated hop"])

        var neverSent = CleanRing()
        neverSent.arrivals[0].append(RingChecker.Arrival(token: 1, sequence: 5))
        #expect(kinds(neverSent.check()) == ["repeated hop"])
    }

    @Test("a hop on the wrong loop", arguments: 0..<5)
    func wrongLoop(which: Int) {
        var ring = CleanRing()
        switch which {
        case 0: ring.tokens[0].hops[1].ranOn = 1  // hop 1 of token 0 goes 1 -> 0
        case 1: ring.tokens[0].hops[1].resumedOn = 0
        case 2: ring.tokens[0].hops[1].continuedOn = 1
        case 3: ring.tokens[0].hops[1].from = 0
        default:
            ring.arrivals[0].removeAll { $0 == RingChecker.Arrival(token: 0, sequence: 1) }
            ring.arrivals[1].append(RingChecker.Arrival(token: 0, sequence: 1))
        }
        let violations = ring.check()
        #expect(kinds(violations) == ["wrong loop"])
        #expect(violations.first?.sequence == 1)
    }

    @Test("the real scenario, briefly: no violation")
    func scenario() async {
        let result = await offThePool {
            StressScenario.ring.run(StressConfiguration(loops: 2, producers: 2, duration: 0.3),
                                    progress: StressProgress(write: nil))
        }
        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations > 0)
        #expect(result.latency != nil)
    }

    @Test("the real scenario in count mode does exactly the count")
    func scenarioCount() async {
        let result = await offThePool {
            StressScenario.ring.run(StressConfiguration(loops: 3, producers: 2, count: 1_001),
                                    progress: StressProgress(write: nil))
        }
        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations == 1_001)
    }
}
