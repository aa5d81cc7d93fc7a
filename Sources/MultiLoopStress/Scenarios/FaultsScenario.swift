#if canImport(Glibc)
import Glibc
#endif
import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

/// Callbacks that throw, tasks that fail, producer threads that exit mid-stream.
///
/// The configured producers run for the whole scenario; besides them, a spawner thread starts
/// short-lived producers, two at a time (at most one wave per 10 ms, which bounds the checkers'
/// per-producer state over a long run), that each send a random number of items and exit without
/// waiting for anything: their lanes into the loops are abandoned with work still in them. Every
/// producer sends each item to a random loop: a callback that succeeds (`execute` or
/// `callSoonThreadsafe`), a callback that throws `FaultError(id)`, or a task (`submitTask`) that
/// returns its id or throws `FaultError(id)`, after a `sleep(0)` or not. It ends with an end
/// marker to every loop. Each loop's `FaultsChecker` checks its callbacks, its exception
/// handler's reports and the end markers as they run; the producers (the spawner for the
/// short-lived ones) check the task futures (`FaultsChecker.checkTask`).
enum FaultsScenario {
    /// Per loop, touched by that loop's thread only (its callbacks and its exception handler).
    final class LoopState: @unchecked Sendable {
        var checker: FaultsChecker
        let latency: LatencyRecorder

        init(checker: FaultsChecker, latency: LatencyRecorder) {
            self.checker = checker
            self.latency = latency
        }
    }

    /// A submitted task whose future is not checked yet.
    struct PendingTask: Sendable {
        let future: Future<Int>
        let loop: Int
        let task: Int
        let fails: Bool
    }

    /// What the producers share (immutable, or thread-safe).
    struct Shared: Sendable {
        let context: ScenarioContext
        let group: LoopGroup
        let loops: [EventLoop]
        let states: [LoopState]
        /// Failed tasks whose futures carried their error.
        let tasksFailed: StressCounter
    }

    /// Of 16 items: 1 a task, 2 a throwing callback, 13 a callback that succeeds.
    static let taskShare = 1
    static let faultShare = 2
    /// Outstanding task futures per producer before it waits for the oldest.
    static let taskWindow = 32
    /// A short-lived producer sends 1...this many items.
    static let shortLivedItems = 2_000
    /// Short-lived producers started together, and the shortest time between two such waves.
    static let waveSize = 2
    static let waveNanoseconds: Int64 = 10_000_000
    /// How long a producer waits for a task's future before calling it unfinished.
    static let futureTimeout = 60.0

    static func run(_ context: ScenarioContext) throws -> ScenarioOutcome {
        let configuration = context.configuration
        let group = try configuration.makeGroup(name: "faults")
        let loops = group.loops
        let producers = max(configuration.producers, 0)
        let states = loops.indices.map { index in
            LoopState(checker: FaultsChecker(loop: index, loops: loops.count, producers: producers),
                      latency: context.latencies.make())
        }
        for (index, loop) in loops.enumerated() {
            let state = states[index]
            loop.setExceptionHandler { loop, report in
                guard loop.isOnLoopThread else {
                    context.violation("report off the loop thread", loop: index,
                                      expected: "callback errors reported on the loop thread", seen: "\(report)")
                    return
                }
                let violation: StressViolation? = if let fault = report.error as? FaultError {
                    state.checker.reported(id: fault.id)
                } else {
                    state.checker.unexpected("\(report)")
                }
                if let violation { context.violations.record(violation) }
            }
        }
        let shared = Shared(context: context, group: group, loops: loops, states: states,
                            tasksFailed: StressCounter())
        let submitted = StressCounter()
        // Written by the spawner thread, read after it is joined.
        let exited = LoopConfined(0)

        // The configured producers, and the spawner as one more worker (its share in count mode
        // is what its short-lived producers send).
        PThread.runAll(producers + 1, name: "ml-faults") { worker in
            let share = context.share(of: producers + 1, index: worker)
            if worker == producers {
                exited.value = spawn(shared, firstProducer: producers, share: share, submitted: submitted)
                return
            }
            var producer = Producer(index: worker, shared: shared, random: context.random(stream: worker))
            var done = 0
            while context.shouldContinue(done: done, share: share) {
                // A batch between clock reads.
                let batchStart = done
                let batchEnd = share.map { min($0, done + 256) } ?? done + 256
                while done < batchEnd {
                    producer.submitOne()
                    done += 1
                }
                context.progress.addOperations(done - batchStart)
            }
            producer.sendEndMarkers()
            submitted.add(producer.items)
            while !producer.outstanding.isEmpty { producer.checkOldestTask() }
        }
        try group.syncShutdownGracefully()  // runs everything accepted, joins the loop threads

        let totalProducers = producers + exited.value
        for state in states { context.violations.record(state.checker.finish(producers: totalProducers)) }
        // (Each thrown error's report was matched by its loop's checker; `finish` lists the rest.)
        let reported = states.reduce(0) { $0 + $1.checker.reported }
        return ScenarioOutcome(
            operations: UInt64(submitted.value), statistics: group.statistics.total,
            details: ["errors reported": reported, "tasks failed": shared.tasksFailed.value,
                      "producers exited": exited.value])
    }

    /// Starts short-lived producers in waves until the time is up or `share` items are sent;
    /// checks their tasks' futures once they have exited. Returns how many it started.
    private static func spawn(_ shared: Shared, firstProducer: Int, share: Int?, submitted: StressCounter) -> Int {
        let context = shared.context
        var random = context.random(stream: firstProducer)
        var remaining = share
        var exited = 0
        while remaining.map({ $0 > 0 }) ?? !context.timeIsUp {
            let waveStart = monotonicNanoseconds()
            // Each producer's number and what it leaves behind, written by its thread and read
            // after it is joined.
            var wave: [(thread: PThread, index: Int, left: LoopConfined<(tasks: [PendingTask], items: Int)>)] = []
            for _ in 0..<waveSize {
                var items = 1 + random.below(shortLivedItems)
                if let left = remaining {
                    items = min(items, left)
                    remaining = left - items
                }
                guard items > 0 else { break }
                let count = items
                let index = firstProducer + exited + wave.count
                let seed = random.next()
                let left = LoopConfined((tasks: [PendingTask](), items: 0))
                let thread = PThread(name: "ml-faults-x") {
                    var producer = Producer(index: index, shared: shared, random: StressRandom(seed: seed))
                    for _ in 0..<count { producer.submitOne() }
                    context.progress.addOperations(count)
                    producer.sendEndMarkers()
                    // Exits with its futures pending and its lanes abandoned, work still in them.
                    left.value = (producer.outstanding, producer.items)
                }
                wave.append((thread, index, left))
            }
            for member in wave {
                member.thread.join()
                submitted.add(member.left.value.items)
                for pending in member.left.value.tasks { check(pending, producer: member.index, shared: shared) }
            }
            exited += wave.count
            guard remaining.map({ $0 > 0 }) ?? true else { break }
            // Rate limit (not past the deadline in duration mode).
            let now = monotonicNanoseconds()
            var pause = waveNanoseconds - (now - waveStart)
            if share == nil { pause = min(pause, context.deadline - now) }
            if pause > 0 { usleep(useconds_t(pause / 1_000)) }
        }
        return exited
    }

    /// Waits for a task's future and checks it.
    static func check(_ pending: PendingTask, producer: Int, shared: Shared) {
        let outcome = Result { try pending.future.wait(timeout: futureTimeout) }
        if let violation = FaultsChecker.checkTask(loop: pending.loop, producer: producer, task: pending.task,
                                                   fails: pending.fails, outcome: outcome) {
            shared.context.violations.record(violation)
        } else if pending.fails {
            shared.tasksFailed.add()
        }
    }

    /// One producer thread's state.
    struct Producer {
        let index: Int
        let shared: Shared
        var random: StressRandom
        /// Per loop: the callbacks sent (the next sequence number), the errors thrown among them.
        var sequences: [Int]
        var faults: [Int]
        var tasks = 0
        /// Items accepted (callbacks and tasks; not the end markers).
        var items = 0
        /// Oldest first.
        var outstanding: [PendingTask] = []

        init(index: Int, shared: Shared, random: StressRandom) {
            self.index = index
            self.shared = shared
            self.random = random
            sequences = Array(repeating: 0, count: shared.loops.count)
            faults = sequences
        }

        /// Sends one item to a random loop.
        mutating func submitOne() {
            let target = random.below(shared.loops.count)
            let roll = random.below(16)
            if roll < taskShare {
                submitTask(to: target)
            } else if roll < taskShare + faultShare {
                submitFault(to: target)
            } else {
                submitSuccess(to: target)
            }
        }

        private mutating func submitSuccess(to target: Int) {
            let (producer, sequence, state) = (index, sequences[target], shared.states[target])
            let context = shared.context
            let stamp = monotonicNanoseconds()
            let body: @Sendable () throws -> Void = {
                state.latency.record(nanoseconds: monotonicNanoseconds() - stamp)
                if let violation = state.checker.ran(producer: producer, sequence: sequence) {
                    context.violations.record(violation)
                }
            }
            guard send(body, to: target, sequence: sequence, viaCallSoonOneIn: 4) else { return }
            sequences[target] += 1
            items += 1
        }

        /// Hands `body` to loop `target` with `callSoonThreadsafe` (one time in `oneIn`) or
        /// `execute`; false (and the refusal recorded) if the loop refused it.
        private mutating func send(_ body: @escaping @Sendable () throws -> Void, to target: Int, sequence: Int,
                                   viaCallSoonOneIn oneIn: Int) -> Bool {
            do {
                if random.below(oneIn) == 0 {
                    try shared.loops[target].callSoonThreadsafe(body)
                } else {
                    try shared.loops[target].execute(body)
                }
                return true
            } catch {
                refused(target, sequence, error)
                return false
            }
        }

        private mutating func submitFault(to target: Int) {
            let (producer, sequence, state) = (index, sequences[target], shared.states[target])
            let context = shared.context
            let id = FaultID.callback(producer: producer, loop: target, loops: shared.loops.count,
                                      fault: faults[target])
            let body: @Sendable () throws -> Void = {
                if let violation = state.checker.threw(producer: producer, sequence: sequence, id: id) {
                    context.violations.record(violation)
                }
                throw FaultError(id: id)
            }
            guard send(body, to: target, sequence: sequence, viaCallSoonOneIn: 2) else { return }
            sequences[target] += 1
            faults[target] += 1
            items += 1
        }

        private mutating func submitTask(to target: Int) {
            let number = tasks
            let id = FaultID.task(producer: index, task: number)
            let fails = random.below(2) == 0
            let suspends = random.below(2) == 0
            do {
                let future = try shared.group.submitTask(to: target) { () async throws -> Int in
                    if suspends { try await EventLoop.sleep(0) }
                    if fails { throw FaultError(id: id) }
                    return id
                }
                outstanding.append(PendingTask(future: future, loop: target, task: number, fails: fails))
            } catch {
                shared.context.violation("refused", loop: target, producer: index, sequence: number,
                                         expected: "a running group to accept the task", seen: "\(error)")
                return
            }
            tasks += 1
            items += 1
            if outstanding.count > taskWindow { checkOldestTask() }
        }

        /// Waits for the oldest outstanding task and checks its future.
        mutating func checkOldestTask() {
            check(outstanding.removeFirst(), producer: index, shared: shared)
        }

        /// Tells every loop how many callbacks this producer sent it.
        func sendEndMarkers() {
            let context = shared.context
            for (target, loop) in shared.loops.enumerated() {
                let (producer, count, state) = (index, sequences[target], shared.states[target])
                do {
                    try loop.execute {
                        if let violation = state.checker.ended(producer: producer, submitted: count) {
                            context.violations.record(violation)
                        }
                    }
                } catch {
                    context.violation("refused", loop: target, producer: producer, sequence: count,
                                      expected: "a running loop to accept the end marker", seen: "\(error)")
                }
            }
        }

        private func refused(_ target: Int, _ sequence: Int, _ error: any Error) {
            shared.context.violation("refused", loop: target, producer: index, sequence: sequence,
                                     expected: "a running loop to accept the callback", seen: "\(error)")
        }
    }
}
