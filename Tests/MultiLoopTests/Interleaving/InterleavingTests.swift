import CMultiLoopSystem
import Testing

/// The interleaving checker (InterleavingChecker.swift) on toy programs whose interleavings are
/// known, then on the real lane, inbox, sleep, wake-up, registration, abandon and close code.
///
/// Serialized: the checker installs a process-wide hook (threads it does not control pass
/// through it untouched, so the suites beside this one run as usual).
@Suite("Interleaving checker", .serialized, .timeLimit(.minutes(5)))
struct InterleavingTests {
    // MARK: The checker itself

    @Test("explores exactly the interleavings within the preemption bound")
    func countsInterleavings() async {
        // Two threads, two operations each: 6 interleavings in all; 2 with no preemption (one
        // thread, then the other), 4 with at most one (ABBA and BAAB too).
        for (bound, expected) in [(0, 2), (1, 4), (2, 6), (5, 6)] {
            let report = await offThePool {
                InterleavingChecker(preemptionBound: bound).explore { ToyScenario(.twoLoadsEach) }
            }
            #expect(report.failure == nil)
            #expect(report.exhausted)
            #expect(report.schedules == expected, "preemption bound \(bound)")
        }
    }

    @Test("finds a lost update (a load and a store where a CAS belongs) with one preemption")
    func findsLostUpdate() async {
        let report = await offThePool {
            InterleavingChecker(preemptionBound: 1).explore { ToyScenario(.incrementByLoadAndStore) }
        }
        #expect(report.failure?.contains("counter is 1") == true, "\(report)")
        let correct = await offThePool {
            InterleavingChecker(preemptionBound: 3).explore { ToyScenario(.incrementByCAS) }
        }
        #expect(correct.failure == nil, "\(correct.failure ?? "")")
        #expect(correct.exhausted)
    }

    @Test("reports a missing wake-up as a deadlock, and passes the same program with it")
    func findsLostWakeUp() async {
        let report = await offThePool {
            InterleavingChecker(preemptionBound: 1).explore { ToyScenario(.flagWithoutWakeUp) }
        }
        #expect(report.failure?.contains("deadlock") == true, "\(report)")
        let correct = await offThePool {
            InterleavingChecker(preemptionBound: 3).explore { ToyScenario(.flagWithWakeUp) }
        }
        #expect(correct.failure == nil, "\(correct.failure ?? "")")
        #expect(correct.exhausted)
    }

    // MARK: The real protocol

    /// Explores every schedule of `make()`'s scenario within the bound, off Swift's pool, and
    /// expects none to fail, the search to run out of schedules, and more than 100 of them (a
    /// scenario that explores almost nothing checks almost nothing).
    private func expectEveryScheduleHolds(preemptionBound: Int,
                                          _ make: @escaping @Sendable () -> InterleavingScenario,
                                          sourceLocation: SourceLocation = #_sourceLocation) async {
        let report = await offThePool { InterleavingChecker(preemptionBound: preemptionBound).explore(make) }
        #expect(report.failure == nil, "\(report.failure ?? "")", sourceLocation: sourceLocation)
        #expect(report.exhausted, sourceLocation: sourceLocation)
        #expect(report.schedules > 100, "\(report.schedules) schedules", sourceLocation: sourceLocation)
    }

    /// Two producers, two callbacks each, against a loop that sleeps whenever it finds nothing:
    /// registration racing the sleep, the Dekker pair of push and sleep, the claim of the
    /// wake-up, abandon racing the drain. Every schedule with at most two preemptions.
    @Test("lanes, registration, sleep, wake-up and abandon: 2 producers x 2 callbacks, 2 preemptions")
    func twoProducers() async {
        await expectEveryScheduleHolds(preemptionBound: 2) { LaneProtocolScenario(producers: 2, itemsPerProducer: 2) }
    }

    /// Three producers, one callback each: three registrations racing one another and the sleep.
    @Test("three producers registering at once: 3 x 1 callback, 1 preemption")
    func threeProducers() async {
        await expectEveryScheduleHolds(preemptionBound: 1) { LaneProtocolScenario(producers: 3, itemsPerProducer: 1) }
    }

    /// The loop stops after one callback and its thread closes it while two producers push:
    /// each push is refused or runs, never lost.
    @Test("close while producers push loses nothing: 2 x 2 callbacks, 2 preemptions")
    func closeWhilePushing() async {
        await expectEveryScheduleHolds(preemptionBound: 2) { LaneProtocolScenario(producers: 2, itemsPerProducer: 2, closeAfter: 1) }
    }

    /// A future completed on one thread while another registers a done callback on a sleeping
    /// loop: the callback runs exactly once, with the result.
    @Test("future completion racing a done callback's registration: 2 preemptions")
    func completionAndCallback() async {
        await expectEveryScheduleHolds(preemptionBound: 2) { FutureCompletionScenario(.completeAndCallback) }
    }

    /// The same with a cancel racing the completion: one of them wins, the callback sees it.
    @Test("completion, cancel and a done callback's registration at once: 1 preemption")
    func completionCancelAndCallback() async {
        await expectEveryScheduleHolds(preemptionBound: 1) { FutureCompletionScenario(.completeCancelAndCallback) }
    }

    /// A done callback removed while the future completes: removed, it never runs; not removed,
    /// it runs exactly once.
    @Test("removing a done callback while the future completes: 2 preemptions")
    func removalRacingCompletion() async {
        await expectEveryScheduleHolds(preemptionBound: 2) { FutureCompletionScenario(.removeRacingCompletion) }
    }

    /// Timers cancelled by their scheduling thread while in its lane, in the heap, or running.
    @Test("timers cancelled in transit, in the heap or while running: 3 timers, 2 preemptions")
    func timerCancellation() async {
        await expectEveryScheduleHolds(preemptionBound: 2) { TimerCancelScenario(timers: 3) }
    }
}

/// Small programs with known interleavings, written with the shim's atomics and explicit points
/// (what MultiLoop's debug build does for every atomic).
final class ToyScenario: InterleavingScenario, @unchecked Sendable {
    enum Program { case twoLoadsEach, incrementByLoadAndStore, incrementByCAS, flagWithoutWakeUp, flagWithWakeUp }

    let program: Program
    private let words = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 4)
    /// Fake descriptors: the checker models them and never makes the system call.
    static let eventFD: Int32 = 100_001
    static let epollFD: Int32 = 100_002
    private var sawFlag = false

    init(_ program: Program) {
        self.program = program
        words.initialize(repeating: 0, count: 4)
    }

    deinit { words.deallocate() }

    var threadCount: Int { 2 }
    var wakers: [(eventFD: Int32, epollFD: Int32)] { [(Self.eventFD, Self.epollFD)] }

    private func point(_ kind: Int32, _ word: UnsafeMutablePointer<ml_word_t>?) {
        _ = ml_interleaving_point(kind, word, 0, 0)
    }

    private func load(_ word: UnsafeMutablePointer<ml_word_t>) -> ml_word_t {
        point(Int32(ML_POINT_LOAD), word)
        return ml_load_acquire(word)
    }

    private func store(_ word: UnsafeMutablePointer<ml_word_t>, _ value: ml_word_t) {
        point(Int32(ML_POINT_STORE), word)
        ml_store_release(word, value)
    }

    func run(thread index: Int) {
        switch program {
        case .twoLoadsEach:
            _ = load(words + index)
            _ = load(words + index)
        case .incrementByLoadAndStore:
            let value = load(words)
            store(words, value + 1)
        case .incrementByCAS:
            var value = load(words)
            while true {
                point(Int32(ML_POINT_RMW), words)
                let seen = ml_fetch_cas_acq_rel(words, value, value + 1)
                if seen == value { break }
                value = seen
            }
        case .flagWithoutWakeUp, .flagWithWakeUp:
            if index == 0 {
                // The sleeper: sleeps unless the flag is set (and a wait's timeout is -1).
                if load(words) == 0 {
                    _ = ml_interleaving_point(Int32(ML_POINT_WAIT), nil, Int64(Self.epollFD), -1)
                }
                sawFlag = load(words) != 0
            } else {
                store(words, 1)
                if program == .flagWithWakeUp {
                    _ = ml_interleaving_point(Int32(ML_POINT_SIGNAL), nil, Int64(Self.eventFD), 0)
                }
            }
        }
    }

    func unblockAfterAbort() {}

    func violations() -> [String] {
        switch program {
        case .twoLoadsEach: return []
        case .incrementByLoadAndStore, .incrementByCAS:
            let counter = ml_load_acquire(words)
            return counter == 2 ? [] : ["counter is \(counter) after two increments"]
        case .flagWithoutWakeUp, .flagWithWakeUp:
            return sawFlag ? [] : ["the sleeper woke without seeing the flag"]
        }
    }
}
