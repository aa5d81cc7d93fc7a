// Round trips between loops (a future answered by another loop), tasks created and awaited,
// and timers scheduled, half cancelled, the rest fired: each spread evenly over the consumers of
// a peer that has them.

import Synchronization

enum TaskAndTimerWorkloads {
    /// `roundTrips` in all: each consumer asks the next one (itself when alone) for a value and
    /// waits for the answer before asking again. Every answer must arrive, exactly.
    static func roundTrips(_ set: some FutureLoopSet, roundTrips: Int, stallTimeout: Double) throws -> RunResult {
        try splitOverConsumers(set.count, total: roundTrips, what: "round trips", stallTimeout: stallTimeout) {
            index, share, done in
            set.runRoundTrips(from: index, to: (index + 1) % set.count, count: share, done: done)
        }
    }

    /// `tasks` tasks in all; on each consumer a driver creates its share one at a time, each
    /// awaited before the next is created (asyncio's `await create_task(...)`). Every driver
    /// must report its exact share.
    static func tasks(_ set: some TaskLoopSet, tasks: Int, stallTimeout: Double) throws -> RunResult {
        try splitOverConsumers(set.count, total: tasks, what: "tasks", stallTimeout: stallTimeout) {
            index, share, done in
            set.runTasks(on: index, count: share, batch: 1, done: done)
        }
    }

    /// `tasks` tasks in all; on each consumer a driver creates its share a thousand at a time
    /// and waits for each thousand together (asyncio's `gather`).
    static func gather(_ set: some TaskLoopSet, tasks: Int, stallTimeout: Double) throws -> RunResult {
        try splitOverConsumers(set.count, total: tasks, what: "gathered tasks", stallTimeout: stallTimeout) {
            index, share, done in
            set.runGather(on: index, count: share, batch: 1000, done: done)
        }
    }

    /// `switches` in all; on each consumer one task yields to its loop its share of times.
    static func switches(_ set: some TaskLoopSet, switches: Int, stallTimeout: Double) throws -> RunResult {
        try splitOverConsumers(set.count, total: switches, what: "switches", stallTimeout: stallTimeout) {
            index, share, done in
            set.runSwitches(on: index, count: share, done: done)
        }
    }

    /// Starts `total` operations split evenly over `n` consumers (`start(index, share, done)`;
    /// each calls `done` with how many it completed), waits for all of them, and checks that
    /// each completed exactly its share.
    private static func splitOverConsumers(_ n: Int, total: Int, what: String, stallTimeout: Double,
                                           _ start: (Int, Int, @escaping @Sendable (Int) -> Void) -> Void)
        throws -> RunResult {
        let latch = Latch(count: n)
        let wrong = Atomic(0)
        let begin = nowNs()
        for index in 0..<n {
            let share = shareOf(total, index: index, among: n)
            start(index, share) { completed in
                if completed != share { wrong.add(1, ordering: .relaxed) }
                latch.arrive()
            }
        }
        try latch.wait(seconds: stallTimeout, what: "\(what) over \(n)")
        let end = nowNs()
        guard wrong.load(ordering: .relaxed) == 0 else { throw SweepError.wrongCount("\(what): a consumer's count was wrong") }
        return RunResult(ops: total, seconds: Double(end - begin) / 1e9)
    }

    /// `timers` timers in all, each consumer scheduling its share from its own thread (delays
    /// 0 to 999 µs), cancelling every second one at once. Ends when the last uncancelled one
    /// fired. Afterwards (the set shut down) exactly the uncancelled ones must have fired.
    static func timers(_ set: some TimerLoopSet, timers: Int, stallTimeout: Double) throws -> RunResult {
        let n = set.count
        let latch = Latch(count: n)
        let shares = (0..<n).map { shareOf(timers, index: $0, among: n) }
        // Peers whose cancelled timers still run report every timer; the others only the fired.
        let sinks = shares.map { share in
            Sink(target: set.cancelledTimersFinish ? share : share / 2, latch: latch)
        }
        let start = nowNs()
        for index in 0..<n {
            let fire: @Sendable () -> Void = { sinks[index].bump() }
            set.send(to: index) {
                let cancelled = set.scheduleTimers(on: index, count: shares[index], fire: fire)
                precondition(cancelled == (shares[index] + 1) / 2)
            }
        }
        try latch.wait(seconds: stallTimeout, what: "timers on \(n)")
        let end = nowNs()
        try set.shutdown()
        for (index, sink) in sinks.enumerated() where sink.count != sink.target {
            throw SweepError.wrongCount("timers: consumer \(index) fired \(sink.count), expected \(sink.target)")
        }
        return RunResult(ops: timers, seconds: Double(end - start) / 1e9)
    }
}
