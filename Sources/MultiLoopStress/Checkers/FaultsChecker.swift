import MultiLoop

/// The error the faults scenario throws, from callbacks and from tasks: its `id` says which
/// throw it was (see `FaultID`), so that every report can be matched with its throw.
struct FaultError: Error, Equatable, CustomStringConvertible {
    let id: Int

    var description: String { "FaultError(\(id))" }
}

/// The ids of the faults scenario's errors. A callback's error is `>= 0`: the lane (producer and
/// loop) in the high bits, the lane's fault number (0, 1, 2, ... in the order the producer sent
/// them) in the low 32 bits. A task's error is `< 0`: producer and task number.
enum FaultID {
    static func callback(producer: Int, loop: Int, loops: Int, fault: Int) -> Int {
        ((producer * loops + loop) << 32) | fault
    }

    static func task(producer: Int, task: Int) -> Int {
        -((producer << 32) | task) - 1
    }

    /// The producer, loop and fault number of a callback's error id; nil for a task's.
    static func callbackParts(_ id: Int, loops: Int) -> (producer: Int, loop: Int, fault: Int)? {
        guard id >= 0 else { return nil }
        let lane = id >> 32
        return (lane / loops, lane % loops, id & 0xFFFF_FFFF)
    }

    /// The producer and task number of a task's error id; nil for a callback's.
    static func taskParts(_ id: Int) -> (producer: Int, task: Int)? {
        guard id < 0 else { return nil }
        let value = -(id + 1)
        return (value >> 32, value & 0xFFFF_FFFF)
    }
}

/// Checks one loop's share of the faults scenario as it runs: the callbacks (that succeed or
/// throw), the exception handler's reports, and each producer's end marker; plus, statically,
/// the futures of submitted tasks.
///
/// Every producer numbers the callbacks it sends to this loop 0, 1, 2, ... (successes and throws
/// alike) and ends with an end marker carrying that count, so one lane's state is O(1): a gap is
/// a lost callback, a repeat a duplicate, an earlier number a reorder, an end marker seen before
/// its count a loss at the end (a producer that exited mid-stream included), a missing end
/// marker (`finish`) a loss of the tail. A throwing callback records its error id before it
/// throws; the handler's report must then match exactly one such id: a second report of it is
/// "reported twice", an id never thrown "unknown error", a task's error "task error reported" (a
/// task's error belongs to its future), and an id still unreported at `finish` "unreported".
/// Reports may come later than the throw (any order): only `finish` calls an error unreported.
///
/// Touched by one loop's thread only (its callbacks and its exception handler).
struct FaultsChecker {
    /// One producer's callbacks to this loop.
    struct Lane {
        /// The next sequence number expected.
        var next = 0
        /// Errors thrown so far (the next fault number).
        var faults = 0
        /// Whether the end marker ran.
        var ended = false
    }

    /// At most this many errors may wait for their report (a few at most in practice: the
    /// handler runs right after the throw); beyond it they count as unreported, which keeps the
    /// memory of a long run bounded when reports are lost.
    static let unreportedLimit = 65_536

    let loop: Int
    let loops: Int
    /// Per producer, indexed by producer number; grows as the short-lived producers come.
    private(set) var lanes: [Lane]
    /// Thrown, not yet reported: id -> (producer, sequence).
    private var unreported: [Int: (producer: Int, sequence: Int)] = [:]
    /// Callbacks that succeeded.
    private(set) var succeeded = 0
    /// Callbacks that threw.
    private(set) var thrown = 0
    /// Reports that matched a thrown error (the first report of each).
    private(set) var reported = 0

    init(loop: Int, loops: Int, producers: Int) {
        self.loop = loop
        self.loops = loops
        lanes = Array(repeating: Lane(), count: producers)
    }

    /// A callback that succeeded ran.
    mutating func ran(producer: Int, sequence: Int) -> StressViolation? {
        succeeded += 1
        return advance(producer: producer, sequence: sequence)
    }

    /// A callback is about to throw `FaultError(id)`.
    mutating func threw(producer: Int, sequence: Int, id: Int) -> StressViolation? {
        thrown += 1
        let violation = advance(producer: producer, sequence: sequence)
        if let parts = FaultID.callbackParts(id, loops: loops), parts.producer == producer, parts.loop == loop {
            lanes[producer].faults = max(lanes[producer].faults, parts.fault + 1)
        }
        if unreported.count >= Self.unreportedLimit {
            let count = unreported.count
            unreported.removeAll()
            return self.violation("unreported", nil, nil, expected: "each thrown error reported",
                                  seen: "\(count) errors thrown and not reported")
        }
        unreported[id] = (producer, sequence)
        return violation
    }

    /// The exception handler was called with `FaultError(id)`.
    mutating func reported(id: Int) -> StressViolation? {
        if unreported.removeValue(forKey: id) != nil {
            reported += 1
            return nil
        }
        if let task = FaultID.taskParts(id) {
            return violation("task error reported", task.producer, task.task,
                             expected: "a task's error in its future only", seen: "FaultError(\(id)) reported")
        }
        guard let parts = FaultID.callbackParts(id, loops: loops) else {
            return violation("unknown error", nil, nil, expected: "a thrown error", seen: "FaultError(\(id))")
        }
        if parts.loop != loop {
            return violation("wrong loop", parts.producer, nil, expected: "errors of loop \(loop)",
                             seen: "FaultError(\(id)) of loop \(parts.loop)")
        }
        if lanes.indices.contains(parts.producer), parts.fault < lanes[parts.producer].faults {
            return violation("reported twice", parts.producer, nil, expected: "one report",
                             seen: "FaultError(\(id)) (fault \(parts.fault)) again")
        }
        return violation("unknown error", parts.producer, nil, expected: "a thrown error",
                         seen: "FaultError(\(id)) (fault \(parts.fault)), never thrown")
    }

    /// The exception handler was called with something other than a `FaultError`.
    func unexpected(_ report: String) -> StressViolation {
        violation("unexpected report", nil, nil, expected: "only FaultErrors of callbacks", seen: report)
    }

    /// Producer `producer`'s end marker ran: it had sent `submitted` callbacks to this loop before.
    mutating func ended(producer: Int, submitted: Int) -> StressViolation? {
        guard producer >= 0 else { return unknownProducer(producer, submitted) }
        grow(to: producer)
        if lanes[producer].ended {
            return violation("duplicate", producer, submitted, expected: "one end marker", seen: "a second")
        }
        lanes[producer].ended = true
        let next = lanes[producer].next
        if next < submitted {
            return violation("lost", producer, next, expected: "\(submitted) callbacks before the end marker",
                             seen: "\(next) (\(submitted - next) item(s) missing)")
        }
        if next > submitted {
            return violation("count", producer, next, expected: "\(submitted) callbacks before the end marker",
                             seen: "up to sequence \(next - 1)")
        }
        return nil
    }

    /// After the run (the loop closed): every one of `producers` producers' end marker ran, and
    /// every thrown error was reported.
    func finish(producers: Int) -> [StressViolation] {
        var violations: [StressViolation] = []
        for producer in 0..<max(producers, lanes.count) {
            let lane = producer < lanes.count ? lanes[producer] : Lane()
            if producer >= producers {
                if lane.next > 0 || lane.ended {
                    violations.append(unknownProducer(producer, lane.next))
                }
            } else if !lane.ended {
                violations.append(violation("lost", producer, lane.next, expected: "the producer's end marker",
                                            seen: "\(lane.next) callbacks and no end marker"))
            }
        }
        for (id, place) in unreported.sorted(by: { $0.key < $1.key }) {
            violations.append(violation("unreported", place.producer, place.sequence,
                                        expected: "FaultError(\(id)) reported once", seen: "never reported"))
        }
        return violations
    }

    /// Checks a task's future: a task that throws `FaultError(id)` must leave exactly that error in
    /// its future; one that succeeds, its id as the value. `outcome` is what `wait` gave.
    static func checkTask(loop: Int?, producer: Int, task: Int, fails: Bool,
                          outcome: Result<Int, any Error>) -> StressViolation? {
        let id = FaultID.task(producer: producer, task: task)
        let expected = fails ? "FaultError(\(id))" : "the value \(id)"
        func violation(_ kind: String, _ seen: String) -> StressViolation {
            StressViolation(scenario: StressScenario.faults.rawValue, kind: kind, loop: loop, producer: producer,
                            sequence: task, expected: expected, seen: seen)
        }
        switch outcome {
        case .failure(let error as FutureWaitError):
            return violation("unfinished", "\(error)")
        case .failure(let error as FaultError) where fails && error.id == id:
            return nil
        case .success(let value) where !fails && value == id:
            return nil
        case .failure(let error):
            return violation(fails ? "task error lost" : "task failed", "error \(String(reflecting: error))")
        case .success(let value):
            return violation(fails ? "task error lost" : "wrong value", "the value \(value)")
        }
    }

    // MARK: -

    private mutating func grow(to producer: Int) {
        if producer >= lanes.count {
            lanes.append(contentsOf: repeatElement(Lane(), count: producer + 1 - lanes.count))
        }
    }

    private mutating func advance(producer: Int, sequence: Int) -> StressViolation? {
        guard producer >= 0 else { return unknownProducer(producer, sequence) }
        grow(to: producer)
        let lane = lanes[producer]
        if lane.ended {
            return violation("after end", producer, sequence, expected: "nothing after the end marker",
                             seen: "sequence \(sequence)")
        }
        if sequence == lane.next {
            lanes[producer].next += 1
            return nil
        }
        if sequence > lane.next {
            // lane.next..<sequence never came; resynchronize after this one.
            lanes[producer].next = sequence + 1
            return violation("lost", producer, lane.next, expected: "\(lane.next)",
                             seen: "\(sequence) (\(sequence - lane.next) item(s) missing)")
        }
        return violation(sequence == lane.next - 1 ? "duplicate" : "reordered", producer, sequence,
                         expected: "\(lane.next)", seen: "\(sequence)")
    }

    private func unknownProducer(_ producer: Int, _ sequence: Int) -> StressViolation {
        violation("unknown producer", producer, sequence, expected: "a producer of the run", seen: "producer \(producer)")
    }

    private func violation(_ kind: String, _ producer: Int?, _ sequence: Int?, expected: String,
                           seen: String) -> StressViolation {
        StressViolation(scenario: StressScenario.faults.rawValue, kind: kind, loop: loop, producer: producer,
                        sequence: sequence, expected: expected, seen: seen)
    }
}
