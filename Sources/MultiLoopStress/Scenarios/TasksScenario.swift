#if canImport(Glibc)
import Glibc
#endif
import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

/// Tasks on every loop contend on a `Lock`, a `Semaphore(value: 3)` and an
/// `AsyncQueue<Int>(maxSize: 8)` of their loop: lockers and semaphore users run critical sections
/// that yield to the loop inside (`sleep(0)`), producers and consumers pass numbered items. About
/// a tenth of the tasks are cancelled mid-way, half from a plain thread, half from tasks of the
/// loops. Everything a task counts lives on its loop (`LoopState`, touched by that loop's thread
/// only) and is checked by `TasksChecker` once the group is shut down.
///
/// Operations: critical sections completed (lock and semaphore). Latency: waiting for the lock.
enum TasksScenario {
    static let semaphoreValue = 3
    static let queueSize = 8
    /// Tasks per loop, by role (the first of each role is never cancelled at random, so that
    /// every role makes progress to the end).
    static let roles: [(TasksChecker.Role, Int)] = [(.locker, 8), (.semaphore, 8), (.producer, 4), (.consumer, 4)]
    /// The share of the tasks cancelled at random.
    static let cancelledShare = 0.1

    /// One loop's primitives and counters. Touched by that loop's thread only (its tasks), read by
    /// the scenario's thread after the shutdown joined it.
    final class LoopState: @unchecked Sendable {
        let index: Int
        let loop: EventLoop
        let lock = MultiLoop.Lock()
        let semaphore: MultiLoop.Semaphore
        let queue = AsyncQueue<Int>(maxSize: TasksScenario.queueSize)
        let latency: LatencyRecorder
        var record: TasksChecker.LoopRecord
        /// Tasks inside the lock / holding a permit now.
        var inside = 0
        var holders = 0
        /// Count mode: critical sections left to claim, and claims not settled yet (a claim whose
        /// section was cancelled goes back). Nil in duration mode.
        var budget: Int?
        var claims = 0

        init(index: Int, loop: EventLoop, budget: Int?, latency: LatencyRecorder, tallies: [TasksChecker.TaskTally]) throws {
            self.index = index
            self.loop = loop
            self.budget = budget
            self.latency = latency
            semaphore = try MultiLoop.Semaphore(value: TasksScenario.semaphoreValue)
            record = TasksChecker.LoopRecord(loop: index)
            record.tallies = tallies
        }

        /// Whether this task is on this loop's thread (what makes the plain counters safe).
        func checkThread() {
            if (try? getRunningLoop()) !== loop { record.wrongLoop += 1 }
        }

        /// Whether the work of this loop is over: the time is up, or every section of its share
        /// is done.
        func stopping(_ context: ScenarioContext) -> Bool {
            guard let budget else { return context.timeIsUp }
            return budget == 0 && claims == 0
        }

        /// Takes one critical section to do; false when there is none left. In count mode, waits
        /// (yielding) while the last sections are claimed by others: one may come back.
        func claim(_ context: ScenarioContext) async throws -> Bool {
            guard budget != nil else { return !context.timeIsUp }
            while true {
                if let left = budget, left > 0 {
                    budget = left - 1
                    claims += 1
                    return true
                }
                if claims == 0 { return false }
                try await EventLoop.sleep(0)
            }
        }

        /// Settles a claim: a section not completed goes back to the budget.
        func settle(completed: Bool) {
            guard let left = budget else { return }
            claims -= 1
            if !completed { budget = left + 1 }
        }

        /// A consumer (or the final drain) took `item`.
        func took(_ item: Int) {
            if item >= 0 && item < record.getCounts.count {
                record.getCounts[item] += 1
            } else {
                record.unknownItems.append(item)
            }
        }
    }

    /// What every task shares: atomics only.
    final class Shared: Sendable {
        let context: ScenarioContext
        /// Critical sections completed, all loops.
        let sections = StressCounter()
        /// Anything done (sections, puts, gets): a stall detector.
        let activity = StressCounter()
        /// Set when the run is over: the cancellers give up.
        let ending = StressFlag()
        let start = monotonicNanoseconds()

        init(context: ScenarioContext) { self.context = context }

        /// How far the run is, 0...1: by time, or by sections in count mode.
        var fraction: Double {
            if let count = context.configuration.count {
                return count > 0 ? Double(sections.value) / Double(count) : 1
            }
            let duration = context.configuration.duration
            return duration > 0 ? Double(monotonicNanoseconds() - start) / (duration * 1e9) : 1
        }
    }

    /// How to cancel a task: the future `submitTask` gave, or the task `createTask` made.
    enum Handle: Sendable {
        case future(Future<Void>)
        case task(LoopTask<Void>)

        func cancel() {
            switch self {
            case .future(let future): _ = future.cancel()
            case .task(let task): task.cancel()
            }
        }
    }

    /// One task of the scenario. `handle` is set once, before any other thread or task reads it.
    final class Worker: @unchecked Sendable {
        let loop: Int
        let slot: Int
        let role: TasksChecker.Role
        /// Its rank within its role on its loop (0 is never cancelled at random).
        let rank: Int
        let started = StressFlag()
        let finished = StressFlag()
        var handle: Handle?

        init(loop: Int, slot: Int, role: TasksChecker.Role, rank: Int) {
            self.loop = loop
            self.slot = slot
            self.role = role
            self.rank = rank
        }
    }

    /// A task chosen to be cancelled once the run is `at` of the way through.
    struct Victim: Sendable {
        let worker: Worker
        let at: Double
        let byTask: Bool
    }

    static func run(_ context: ScenarioContext) throws -> ScenarioOutcome {
        let configuration = context.configuration
        let group = try configuration.makeGroup(name: "tasks")
        let loops = group.count
        let shared = Shared(context: context)
        var workers: [[Worker]] = []
        var states: [LoopState] = []
        for index in 0..<loops {
            var slots: [Worker] = []
            for (role, count) in roles {
                for rank in 0..<count {
                    slots.append(Worker(loop: index, slot: slots.count, role: role, rank: rank))
                }
            }
            workers.append(slots)
            states.append(try LoopState(index: index, loop: group.loops[index],
                                        budget: context.share(of: loops, index: index),
                                        latency: context.latencies.make(),
                                        tallies: slots.map { TasksChecker.TaskTally(role: $0.role) }))
        }

        // Start them: the even slots from here with `submitTask`, the odd ones by a task of their
        // loop with `createTask`.
        var spawners: [(Int, Future<[LoopTask<Void>]>)] = []
        for index in 0..<loops {
            let state = states[index]
            for worker in workers[index] where worker.slot % 2 == 0 {
                worker.handle = .future(try group.submitTask(to: index) { await work(worker, state, shared) })
            }
            let odd = workers[index].filter { $0.slot % 2 == 1 }
            spawners.append((index, try group.submitTask(to: index) { () -> [LoopTask<Void>] in
                let loop = try getRunningLoop()
                return odd.map { worker in loop.createTask { await work(worker, state, shared) } }
            }))
        }
        for (index, spawner) in spawners {
            let odd = workers[index].filter { $0.slot % 2 == 1 }
            do {
                for (worker, task) in zip(odd, try spawner.wait(timeout: 30)) { worker.handle = .task(task) }
            } catch {
                context.violation("spawn failed", loop: index, expected: "the loop to start its tasks",
                                  seen: "\(error)")
            }
        }

        // Pick the victims: a tenth of the tasks, never the first of a role on a loop.
        var random = context.random(stream: 0)
        var eligible = workers.joined().filter { $0.rank > 0 && $0.handle != nil }
        let total = workers.reduce(0) { $0 + $1.count }
        var victims: [Victim] = []
        for _ in 0..<min(eligible.count, max(1, Int((Double(total) * cancelledShare).rounded()))) {
            let worker = eligible.remove(at: random.below(eligible.count))
            victims.append(Victim(worker: worker, at: 0.05 + 0.55 * random.unit(), byTask: random.below(2) == 1))
        }
        let byThread = victims.filter { !$0.byTask }.sorted { $0.at < $1.at }
        let canceller = PThread(name: "ml-tasks-cancel") {
            for victim in byThread {
                while !(victim.worker.started.isSet && shared.fraction >= victim.at) && !shared.ending.isSet {
                    usleep(500)
                }
                if shared.ending.isSet { return }
                victim.worker.handle?.cancel()
            }
        }
        var killers: [Future<Void>] = []
        for victim in victims where victim.byTask {
            let killerLoop = random.below(loops)
            do {
                killers.append(try group.submitTask(to: killerLoop) {
                    while !(victim.worker.started.isSet && shared.fraction >= victim.at) {
                        if shared.ending.isSet { return }
                        try await EventLoop.sleep(0.001)
                    }
                    victim.worker.handle?.cancel()
                })
            } catch {
                context.violation("refused", loop: killerLoop, expected: "the group to accept a task",
                                  seen: "\(error)")
            }
        }

        // The end: the lockers, semaphore users and producers stop by themselves; then the
        // consumers (who may wait for an item forever) are cancelled.
        let all = Array(workers.joined())
        var stalled = !waitUntilFinished(all.filter { $0.role != .consumer }, shared)
        shared.ending.set()
        for worker in all where worker.role == .consumer {
            // Only once it has started: a submitted task cancelled before it starts never runs.
            if !stalled { stalled = !waitUntil(worker, shared) { $0.started.isSet } }
            worker.handle?.cancel()
        }
        if !stalled { stalled = !waitUntilFinished(all, shared) }
        canceller.join()
        for killer in killers {
            do {
                try killer.wait(timeout: 30)
            } catch {
                context.violation("killer failed", expected: "the cancelling task to end", seen: "\(error)")
            }
        }

        // Drain each queue on its loop and check that every item taken was marked done.
        var finales: [Future<Void>] = []
        for state in states {
            do {
                finales.append(try group.submitTask(to: state.index) { try await finale(state) })
            } catch {
                context.violation("refused", loop: state.index, expected: "the group to accept the drain",
                                  seen: "\(error)")
            }
        }
        for (index, finale) in finales.enumerated() {
            do {
                try finale.wait(timeout: 30)
            } catch {
                context.violation("drain failed", loop: index, expected: "the queue drained", seen: "\(error)")
            }
        }

        let report = try group.syncShutdownGracefully()  // joins the loop threads: their state is readable
        if report.tasksAbandoned > 0 {
            context.violation("unfinished task", expected: "every task done by the shutdown",
                              seen: "\(report.tasksAbandoned) abandoned")
        }
        let checker = TasksChecker(semaphoreLimit: semaphoreValue)
        var lockSections = 0, semaphoreSections = 0, itemsPut = 0
        for state in states {
            var record = state.record
            record.insideLockAtEnd = state.inside
            record.semaphoreHoldersAtEnd = state.holders
            record.lockLocked = state.lock.isLocked
            record.lockWaiters = state.lock.waiterCount
            record.semaphoreWaiters = state.semaphore.waiterCount
            record.queueGetters = state.queue.waitingGetterCount
            record.queuePutters = state.queue.waitingPutterCount
            record.queueCount = state.queue.count
            context.violations.record(checker.check(record))
            lockSections += record.lockSections
            semaphoreSections += record.semaphoreSections
            itemsPut += record.itemsPut
        }
        // Victims that did end by their cancellation (the others had finished first).
        let cancelled = victims.filter { states[$0.worker.loop].record.tallies[$0.worker.slot].cancelled }.count
        let sections = lockSections + semaphoreSections
        if let count = configuration.count, !stalled, sections != count {
            context.violation("count mismatch", expected: "\(count) critical sections", seen: "\(sections)")
        }
        return ScenarioOutcome(
            operations: UInt64(sections), statistics: group.statistics.total,
            details: ["lockSections": lockSections, "semaphoreSections": semaphoreSections, "itemsPut": itemsPut,
                      "tasks": total, "victims": victims.count, "victimsCancelled": cancelled,
                      "shutdownCancelled": report.tasksCancelled])
    }

    /// Blocks until every one of `workers` has finished, or until nothing has happened for
    /// `stall` seconds (then reports it and returns false).
    private static func waitUntilFinished(_ workers: [Worker], _ shared: Shared) -> Bool {
        for worker in workers where !waitUntil(worker, shared, { $0.finished.isSet }) { return false }
        return true
    }

    /// Blocks until `condition(worker)`, or until no task has done anything for `stall` seconds
    /// (then reports it and returns false).
    private static func waitUntil(_ worker: Worker, _ shared: Shared, stall: Double = 30,
                                  _ condition: (Worker) -> Bool) -> Bool {
        if MultiLoopStress.waitUntil(progress: shared.activity, stall: stall, { condition(worker) }) { return true }
        shared.context.violation("stalled", loop: worker.loop, producer: worker.slot,
                                 expected: "the \(worker.role.rawValue) task to go on",
                                 seen: "nothing done for \(Int(stall)) s")
        return false
    }
}
