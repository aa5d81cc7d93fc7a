#if canImport(Glibc)
import Glibc
#endif
import CMultiLoopSystem

/// What the interleaving checker runs: a few threads over shared state, made afresh for every
/// schedule, and what must hold once they are done.
///
/// Every body runs on a real thread of its own. The checker controls it at the interleaving
/// points of MultiLoop's code (Sources/_MultiLoopSystem/InterleavingPoints.swift: each atomic
/// operation, spin-wait pause, eventfd write and epoll wait); between two points a thread runs
/// alone. So the bodies must be deterministic given the order of those points: no clocks, no
/// randomness, no waiting on anything but MultiLoop's own points.
protocol InterleavingScenario: AnyObject, Sendable {
    /// How many threads; `run(thread:)` is called once with each index.
    var threadCount: Int { get }
    /// The eventfd and epoll descriptors of each loop: a write to the one wakes a wait on the other.
    var wakers: [(eventFD: Int32, epollFD: Int32)] { get }
    /// Thread `index`'s body.
    func run(thread index: Int)
    /// After an aborted run (a deadlock or a failure): make every thread finish on its own (e.g.
    /// stop a loop that waits for work that was lost). The checker no longer controls them; waits
    /// return at once.
    func unblockAfterAbort()
    /// What went wrong in a run that completed (empty: nothing). Called after every thread ended.
    func violations() -> [String]
}

/// A deterministic interleaving checker for the real Swift code, in the spirit of tokio's loom
/// and of CHESS: it runs a scenario again and again, each time through a different interleaving
/// of its threads' interleaving points, until it has run every interleaving with at most
/// `preemptionBound` preemptions, and stops at the first one that breaks something.
///
/// - A *point* is where a thread is about to do an atomic operation (or a pause, a wake-up write,
///   a wait). There the checker decides which thread does its next operation: one thread runs at
///   a time, and a thread is only ever stopped right before an operation on shared state.
/// - A *preemption* is a switch away from a thread that could have gone on. Switches at a
///   blocking wait or at a thread's end are free. Most concurrency bugs need only one or two
///   preemptions (Musuvathi and Qadeer, "Iterative context bounding", PLDI 2007); the bound keeps
///   the number of schedules polynomial in the number of points.
/// - The search is depth-first over the choices: each run replays the previous run's choices up
///   to the last point that has an untried alternative within the bound, takes it, and goes on
///   with "keep running the current thread" after it. A replay that meets a different set of
///   runnable threads means the scenario is not deterministic: reported as a failure.
/// - An epoll wait with no timeout blocks its thread until a write to the paired eventfd (the
///   writes are counted; one wait consumes them all, as an edge-triggered eventfd does). A wait
///   with a timeout returns at once (a timeout) unless a write is pending. When no thread can run
///   and not all have ended, the run is a deadlock: a lost wake-up.
/// - Interleavings are sequentially consistent: weak-memory reorderings are not explored (the
///   Spin models and ThreadSanitizer cover orderings; see docs/design.md).
final class InterleavingChecker: @unchecked Sendable {
    struct Report {
        /// Complete runs (schedules) explored.
        var schedules = 0
        /// The most points one run went through.
        var longestRun = 0
        /// Whether the search ran out of schedules within the bound (false: stopped by
        /// `maxSchedules` or by a failure).
        var exhausted = false
        /// The first failure, with the schedule that led to it; nil when every schedule passed.
        var failure: String?
    }

    let preemptionBound: Int
    let maxSchedules: Int
    let maxPointsPerRun: Int

    init(preemptionBound: Int, maxSchedules: Int = 1_000_000, maxPointsPerRun: Int = 20_000) {
        self.preemptionBound = preemptionBound
        self.maxSchedules = maxSchedules
        self.maxPointsPerRun = maxPointsPerRun
    }

    // MARK: The search (the exploring thread only, between runs)

    private struct Choice {
        var runnable: [Int]
        var chosen: Int
        var tried: [Int]
        /// The thread that reached the point, if it could go on (a switch away from it is a
        /// preemption); nil at a free switch.
        var current: Int?
        var preemptionsBefore: Int
    }

    private var path: [Choice] = []

    /// Explores `make()`'s scenarios. Blocks the calling thread: call it off Swift's global pool.
    func explore(_ make: () -> InterleavingScenario) -> Report {
        var report = Report()
        while true {
            let scenario = make()
            let outcome = runOnce(scenario)
            report.schedules += 1
            report.longestRun = max(report.longestRun, outcome.points)
            if let failure = outcome.failure {
                report.failure = "schedule \(report.schedules): \(failure)\n" + outcome.trace
                return report
            }
            let violations = scenario.violations()
            if !violations.isEmpty {
                report.failure = "schedule \(report.schedules): " + violations.joined(separator: "; ")
                    + "\n" + outcome.trace
                return report
            }
            if !backtrack() {
                report.exhausted = true
                return report
            }
            if report.schedules >= maxSchedules { return report }
        }
    }

    /// Moves to the next schedule: the deepest choice with an untried alternative within the
    /// bound takes it. Returns false when there is none.
    private func backtrack() -> Bool {
        while var last = path.last {
            let currentCouldGoOn = last.current.map { last.runnable.contains($0) } ?? false
            let alternative = last.runnable.first { thread in
                !last.tried.contains(thread)
                    && (!currentCouldGoOn || thread == last.current || last.preemptionsBefore < preemptionBound)
            }
            if let alternative {
                last.chosen = alternative
                last.tried.append(alternative)
                path[path.count - 1] = last
                return true
            }
            path.removeLast()
        }
        return false
    }

    // MARK: One run (under `mutex`)

    private enum ThreadState: Equatable, CustomStringConvertible {
        case starting, runnable, waiting(epollFD: Int32), locking(UInt), yielded, finished

        var description: String {
            switch self {
            case .starting: "starting"
            case .runnable: "runnable"
            case .waiting(let fd): "waiting on epoll fd \(fd)"
            case .locking(let mutex): "waiting for mutex 0x\(String(mutex, radix: 16))"
            case .yielded: "yielded"
            case .finished: "ended"
            }
        }
    }

    private var mutex = pthread_mutex_t()
    /// The exploring thread waits on `condition`; controlled thread `i` waits for its turn on
    /// `turns[i]` (one wake-up per switch, not one per thread).
    private var condition = pthread_cond_t()
    private var turns: UnsafeMutablePointer<pthread_cond_t>! = nil  // allocated by each run
    private var states: [ThreadState] = []
    private var running = -1
    private var depth = 0
    private var preemptions = 0
    private var points = 0
    private var aborted = false
    private var failure: String?
    private var pendingWrites: [Int32: Int] = [:]
    private var epollOfEventFD: [Int32: Int32] = [:]
    /// Which controlled thread holds each mutex it has seen locked.
    private var mutexHolders: [UInt: Int] = [:]
    private var steps: [(thread: Int, kind: Int, address: UInt)] = []

    /// The checker whose run is in progress (read by the hook on controlled threads only, which
    /// were started after it was set).
    nonisolated(unsafe) static var active: InterleavingChecker?

    private func runOnce(_ scenario: InterleavingScenario) -> (failure: String?, points: Int, trace: String) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        let count = scenario.threadCount
        turns = .allocate(capacity: count)
        for index in 0..<count { pthread_cond_init(turns + index, nil) }
        defer {
            for index in 0..<count { pthread_cond_destroy(turns + index) }
            turns.deallocate()
            pthread_cond_destroy(&condition)
            pthread_mutex_destroy(&mutex)
        }
        states = Array(repeating: .starting, count: count)
        running = -1
        depth = 0
        preemptions = 0
        points = 0
        aborted = false
        failure = nil
        steps = []
        pendingWrites = [:]
        epollOfEventFD = [:]
        mutexHolders = [:]
        for waker in scenario.wakers {
            epollOfEventFD[waker.eventFD] = waker.epollFD
            pendingWrites[waker.epollFD] = 0
        }
        Self.active = self
        ml_interleaving_set_hook(interleavingHook)
        defer {
            ml_interleaving_set_hook(nil)
            Self.active = nil
        }

        // Each thread runs alone up to its first point (or its end), one after the other: what
        // comes before is private to it, so its order does not matter.
        var threads: [JoinableThread] = []
        for index in 0..<count {
            threads.append(JoinableThread { [self] in
                ml_interleaving_set_thread(Int32(index + 1))
                scenario.run(thread: index)
                threadEnded(index)
                ml_interleaving_set_thread(0)
            })
            lock()
            while states[index] == .starting { pthread_cond_wait(&condition, &mutex) }
            unlock()
        }

        lock()
        // The first choice: which thread makes the first move (a free switch).
        if let first = choose(current: nil) {
            running = first
            pthread_cond_signal(turns + first)
        } else if !states.allSatisfy({ $0 == .finished }) {
            abort("deadlock before the first move")
        }
        // Wait for the end; a run that takes more than 30 s of real time is stuck outside the
        // points (a bug in the scenario or a blocking call the checker does not know).
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += 30
        while !aborted && !states.allSatisfy({ $0 == .finished }) {
            if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT {
                abort("the run did not end within 30 s: a thread blocks outside the interleaving points")
            }
        }
        let wasAborted = aborted
        unlock()

        if wasAborted { scenario.unblockAfterAbort() }
        for thread in threads { thread.join() }
        return (failure, points, renderTrace())
    }

    private func lock() { pthread_mutex_lock(&mutex) }
    private func unlock() { pthread_mutex_unlock(&mutex) }

    /// Ends the run: every thread goes on uncontrolled. Under `mutex`.
    private func abort(_ reason: String) {
        if failure == nil { failure = reason }
        aborted = true
        for index in states.indices { pthread_cond_signal(turns + index) }
        pthread_cond_signal(&condition)
    }

    /// The next thread to move, among the runnable ones; records or replays the choice. Under
    /// `mutex`. Nil when no thread can move.
    private func choose(current: Int?) -> Int? {
        let runnable = states.indices.filter { states[$0] == .runnable }
        guard !runnable.isEmpty else { return nil }
        let chosen: Int
        if depth < path.count {
            guard path[depth].runnable == runnable else {
                abort("not deterministic: at choice \(depth) the runnable threads are \(runnable), "
                      + "they were \(path[depth].runnable)")
                return nil
            }
            chosen = path[depth].chosen
        } else {
            let keep = current.flatMap { runnable.contains($0) ? $0 : nil }
            chosen = keep ?? runnable[0]
            path.append(Choice(runnable: runnable, chosen: chosen, tried: [chosen],
                               current: current.flatMap { runnable.contains($0) ? $0 : nil },
                               preemptionsBefore: preemptions))
        }
        if let current, runnable.contains(current), chosen != current { preemptions += 1 }
        depth += 1
        return chosen
    }

    /// Hands the run to `next` (or ends it: a deadlock when threads still wait) and parks the
    /// calling thread `me` until it is chosen again (unless it has ended). Under `mutex`.
    private func switchTo(_ next: Int?, from me: Int) {
        guard let next else {
            if !states.allSatisfy({ $0 == .finished }) {
                let waiting = states.indices.filter { if case .waiting = states[$0] { return true } else { return false } }
                abort("deadlock: thread(s) \(waiting) wait for a wake-up that no thread will send "
                      + "(threads: " + states.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ") + ")")
            } else {
                pthread_cond_signal(&condition)
            }
            return
        }
        running = next
        if next != me { pthread_cond_signal(turns + next) }
        guard states[me] != .finished else { return }
        while running != me && !aborted { pthread_cond_wait(turns + me, &mutex) }
    }

    /// A controlled thread reached a point. Returns the hook's answer.
    fileprivate func point(thread me: Int, kind: Int, address: UnsafeRawPointer?, argument: Int64,
                           timeoutNanoseconds: Int64) -> Int64 {
        lock()
        defer { unlock() }
        if states[me] == .starting {
            // Its first point: park until the run begins and this thread is chosen.
            states[me] = .runnable
            pthread_cond_signal(&condition)
            while running != me && !aborted { pthread_cond_wait(turns + me, &mutex) }
        } else if !aborted {
            precondition(running == me, "interleaving checker: thread \(me) ran while \(running) had the turn")
            points += 1
            if points > maxPointsPerRun {
                abort("more than \(maxPointsPerRun) points in one run: a livelock")
            } else {
                // Any move by this thread may be what a yielded thread waits for.
                for index in states.indices where index != me && states[index] == .yielded {
                    states[index] = .runnable
                }
                if kind == ML_POINT_YIELD {
                    // A pause in a spin-wait: let another thread move first (a free switch).
                    states[me] = .yielded
                    let next = choose(current: nil)
                    states[me] = .runnable
                    switchTo(next ?? me, from: me)
                } else {
                    switchTo(choose(current: me), from: me)
                }
            }
        }
        if aborted {
            // Uncontrolled from now on; a wait returns at once so that a loop can see its stop.
            return kind == ML_POINT_WAIT ? Int64(ML_POINT_WAIT_TIMED_OUT) : Int64(ML_POINT_PROCEED)
        }
        steps.append((me, kind, UInt(bitPattern: address)))

        // This thread's operation happens now, while it alone runs.
        switch kind {
        case ML_POINT_SIGNAL:
            guard let epollFD = epollOfEventFD[Int32(argument)] else { return Int64(ML_POINT_PROCEED) }
            pendingWrites[epollFD, default: 0] += 1
            for index in states.indices where states[index] == .waiting(epollFD: epollFD) {
                states[index] = .runnable
            }
            return Int64(ML_POINT_SIGNAL_DONE)
        case ML_POINT_WAIT:
            let epollFD = Int32(argument)
            guard pendingWrites[epollFD] != nil else { return Int64(ML_POINT_PROCEED) }
            if pendingWrites[epollFD]! == 0 {
                if timeoutNanoseconds >= 0 { return Int64(ML_POINT_WAIT_TIMED_OUT) }
                // Blocks until a write: a free switch (a deadlock if nobody can move).
                states[me] = .waiting(epollFD: epollFD)
                switchTo(choose(current: nil), from: me)
                if aborted { return Int64(ML_POINT_WAIT_TIMED_OUT) }
                steps.append((me, kind, 1))
            }
            pendingWrites[epollFD] = 0
            return Int64(ML_POINT_WAIT_WOKEN)
        case ML_POINT_LOCK:
            let mutex = UInt(bitPattern: address)
            if let holder = mutexHolders[mutex], holder != me {
                // Held by a parked thread: wait for its unlock (a free switch).
                states[me] = .locking(mutex)
                switchTo(choose(current: nil), from: me)
                if aborted { return Int64(ML_POINT_PROCEED) }
                steps.append((me, kind, UInt(bitPattern: address)))
            }
            mutexHolders[mutex] = me
            return Int64(ML_POINT_PROCEED)
        case ML_POINT_UNLOCK:
            let mutex = UInt(bitPattern: address)
            mutexHolders[mutex] = nil
            for index in states.indices where states[index] == .locking(mutex) {
                states[index] = .runnable
            }
            return Int64(ML_POINT_PROCEED)
        case ML_POINT_BLOCK:
            abort("thread \(me) waits on a condition variable, which the checker does not model")
            return Int64(ML_POINT_PROCEED)
        default:
            return Int64(ML_POINT_PROCEED)
        }
    }

    /// A controlled thread's body returned.
    private func threadEnded(_ me: Int) {
        lock()
        defer { unlock() }
        let wasStarting = states[me] == .starting
        states[me] = .finished
        if wasStarting || aborted {
            pthread_cond_signal(&condition)
            return
        }
        switchTo(choose(current: nil), from: me)
    }

    private func renderTrace() -> String {
        let names: [Int: String] = [ML_POINT_LOAD: "load", ML_POINT_STORE: "store", ML_POINT_RMW: "rmw",
                                      ML_POINT_YIELD: "pause", ML_POINT_SIGNAL: "eventfd write",
                                      ML_POINT_WAIT: "epoll wait", ML_POINT_LOCK: "lock",
                                      ML_POINT_UNLOCK: "unlock", ML_POINT_BLOCK: "condition wait"]
        let shown = steps.suffix(80)
        var lines = ["last \(shown.count) of \(steps.count) operations (thread: operation word):"]
        for step in shown {
            let what = names[step.kind] ?? "?"
            lines.append("  T\(step.thread): \(what)" + (step.address > 1 ? " 0x\(String(step.address, radix: 16))" : ""))
        }
        return lines.joined(separator: "\n")
    }
}

/// The C hook: forwards the points of the threads the active checker controls.
private let interleavingHook: ml_interleaving_hook_t = { kind, address, argument, timeout in
    let index = Int(ml_interleaving_thread())
    guard index > 0, let checker = InterleavingChecker.active else { return Int64(ML_POINT_PROCEED) }
    return checker.point(thread: index - 1, kind: Int(kind), address: UnsafeRawPointer(address),
                         argument: argument, timeoutNanoseconds: timeout)
}
