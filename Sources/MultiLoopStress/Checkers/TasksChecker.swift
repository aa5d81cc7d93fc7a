/// Checks one loop's share of the tasks scenario once it is over, from plain records: mutual
/// exclusion under the lock, the semaphore's bound, counters that agree exactly with the tasks'
/// own tallies, every queue item got exactly once (unless its put was cancelled before the item
/// was admitted), every task finished, and nothing left behind (the lock unlocked, no waiter on
/// any primitive, the queue drained).
///
/// Pure: the scenario fills a `LoopRecord` after the group's shutdown has joined the loop
/// threads; the tests feed it corrupted ones.
struct TasksChecker {
    /// What a task of the scenario does.
    enum Role: String, Sendable, CaseIterable {
        case locker, semaphore, producer, consumer
    }

    /// What became of one queue item (indexed by its number, per loop).
    enum PutOutcome: UInt8, Sendable {
        /// The put started and never ended (its task never finished it).
        case pending
        /// `put` returned: the item is in the queue and must be got exactly once.
        case put
        /// `put` threw `CancellationError` while waiting for room: the item never entered.
        case cancelled
    }

    /// One task's own tally of what it completed, and how it ended.
    struct TaskTally: Sendable, Equatable {
        var role: Role
        var lockSections = 0
        var semaphoreSections = 0
        var puts = 0
        var gets = 0
        /// Its body ran to its end (returned, or ended by its cancellation).
        var finished = false
        /// It ended by a cancellation.
        var cancelled = false

        init(role: Role) { self.role = role }
    }

    /// Everything one loop recorded, plus the primitives' state at the end.
    struct LoopRecord: Sendable {
        var loop: Int
        /// The most tasks ever inside the lock at once (after incrementing).
        var maxInsideLock = 0
        /// The most tasks ever holding a permit at once (after incrementing).
        var maxSemaphoreHolders = 0
        /// Tasks inside the lock / holding a permit at the end (both must be 0).
        var insideLockAtEnd = 0
        var semaphoreHoldersAtEnd = 0
        /// The loop's counters.
        var lockSections = 0
        var semaphoreSections = 0
        var itemsPut = 0
        /// Items got by the consumers during the run.
        var itemsGot = 0
        /// Items found in the queue afterwards (drained with `getNowait`).
        var itemsDrained = 0
        var tallies: [TaskTally] = []
        /// Per item number: what its put did, and how many times it was got (run and drain).
        var putOutcomes: [PutOutcome] = []
        var getCounts: [Int] = []
        /// Item numbers got that were never handed out.
        var unknownItems: [Int] = []
        /// Times a task found itself on another loop's thread.
        var wrongLoop = 0
        // The primitives after the run (and the drain).
        var lockLocked = false
        var lockWaiters = 0
        var semaphoreWaiters = 0
        var queueGetters = 0
        var queuePutters = 0
        var queueCount = 0
        /// Whether every item taken was marked done (`join()` found nothing unfinished).
        var queueJoined = true

        init(loop: Int) { self.loop = loop }
    }

    /// The semaphore's initial value: the most holders allowed at once.
    let semaphoreLimit: Int

    func check(_ record: LoopRecord) -> [StressViolation] {
        var found: [StressViolation] = []
        func report(_ kind: String, producer: Int? = nil, sequence: Int? = nil, expected: String, seen: String) {
            found.append(StressViolation(scenario: StressScenario.tasks.rawValue, kind: kind, loop: record.loop,
                                         producer: producer, sequence: sequence, expected: expected, seen: seen))
        }

        // Mutual exclusion and the semaphore's bound.
        if record.maxInsideLock > 1 {
            report("mutual exclusion", expected: "at most 1 task inside the lock",
                   seen: "\(record.maxInsideLock) at once")
        }
        if record.maxSemaphoreHolders > semaphoreLimit {
            report("too many holders", expected: "at most \(semaphoreLimit) permit holders",
                   seen: "\(record.maxSemaphoreHolders) at once")
        }
        if record.insideLockAtEnd != 0 {
            report("left inside", expected: "no task inside the lock at the end", seen: "\(record.insideLockAtEnd)")
        }
        if record.semaphoreHoldersAtEnd != 0 {
            report("left inside", expected: "no permit holder at the end", seen: "\(record.semaphoreHoldersAtEnd)")
        }
        if record.wrongLoop != 0 {
            report("wrong loop", expected: "every task on its own loop's thread",
                   seen: "\(record.wrongLoop) step(s) elsewhere")
        }

        // The loop's counters against the sum of the tasks' own tallies.
        func compare(_ what: String, counter: Int, _ tally: (TaskTally) -> Int) {
            let sum = record.tallies.reduce(0) { $0 + tally($1) }
            if sum != counter {
                report("count mismatch", expected: "\(what): loop counter \(counter)", seen: "tasks' tallies \(sum)")
            }
        }
        compare("lock sections", counter: record.lockSections) { $0.lockSections }
        compare("semaphore sections", counter: record.semaphoreSections) { $0.semaphoreSections }
        compare("items put", counter: record.itemsPut) { $0.puts }
        compare("items got", counter: record.itemsGot) { $0.gets }

        for (index, tally) in record.tallies.enumerated() where !tally.finished {
            report("unfinished task", producer: index, expected: "the \(tally.role.rawValue) task to end",
                   seen: "it never finished")
        }

        // Every item put got exactly once; none whose put was cancelled.
        let admitted = record.putOutcomes.reduce(0) { $0 + ($1 == .put ? 1 : 0) }
        if admitted != record.itemsPut {
            report("count mismatch", expected: "items put: loop counter \(record.itemsPut)",
                   seen: "\(admitted) item(s) recorded as put")
        }
        if record.itemsGot + record.itemsDrained != record.itemsPut {
            report("item count", expected: "\(record.itemsPut) item(s) got (as many as put)",
                   seen: "\(record.itemsGot) got + \(record.itemsDrained) drained")
        }
        for (item, outcome) in record.putOutcomes.enumerated() {
            let gets = item < record.getCounts.count ? record.getCounts[item] : 0
            switch outcome {
            case .put where gets == 0:
                report("lost item", sequence: item, expected: "got once", seen: "never got")
            case .put where gets > 1:
                report("duplicate item", sequence: item, expected: "got once", seen: "got \(gets) times")
            case .cancelled where gets > 0:
                report("phantom item", sequence: item, expected: "never got (its put was cancelled)",
                       seen: "got \(gets) time(s)")
            case .pending:
                report("unfinished put", sequence: item, expected: "the put to return or be cancelled",
                       seen: gets > 0 ? "still pending, item got \(gets) time(s)" : "still pending")
            default:
                break
            }
        }
        for item in record.getCounts.indices.dropFirst(record.putOutcomes.count) where record.getCounts[item] > 0 {
            report("phantom item", sequence: item, expected: "only items that were put", seen: "an item never put")
        }
        for item in record.unknownItems {
            report("phantom item", sequence: item, expected: "only items that were put", seen: "an unknown item")
        }

        // Nothing left behind.
        if record.lockLocked {
            report("left locked", expected: "the lock unlocked at the end", seen: "locked")
        }
        let waiters = [("lock", record.lockWaiters), ("semaphore", record.semaphoreWaiters),
                       ("queue get", record.queueGetters), ("queue put", record.queuePutters)]
        for (what, count) in waiters where count != 0 {
            report("waiter left", expected: "no task waiting on the \(what) at the end", seen: "\(count) waiting")
        }
        if record.queueCount != 0 {
            report("item left", expected: "the queue empty after the drain", seen: "\(record.queueCount) item(s)")
        }
        if !record.queueJoined {
            report("unfinished items", expected: "every item got marked done (join returns)",
                   seen: "join still waiting")
        }
        return found
    }
}
