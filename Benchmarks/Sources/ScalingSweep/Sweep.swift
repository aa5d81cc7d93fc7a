// The sweep: every selected workload, for every selected peer, at every thread count, `repeats`
// times; each run on freshly made consumers, shut down after it. Points are reported as they
// finish (progress to standard error) and written as CSV rows.

import BenchSupport

struct SweepPlan {
    var workloads: [Workload]
    var peers: [Peer]
    var threadCounts: [Int]
    var repeats: Int
    /// Multiplies every workload's operation count.
    var scale: Double
    var stallTimeout: Double
    var cores: Int

    /// Operations per run at scale 1.
    static func baseOps(_ workload: Workload) -> Int {
        switch workload {
        case .fanIn, .fanOut, .allToAll: 2_000_000
        case .ring: 50_000
        case .futures: 100_000
        case .tasks, .gather: 200_000
        case .taskSwitch: 1_000_000
        case .timers: 1_000_000
        }
    }

    /// NIO runs a tenth of the timers: its cancel searches the timer heap linearly
    /// (`PriorityQueue.removeFirst(where:)`), so half a million cancels on one loop take minutes.
    /// Its rows say how many it ran (`ops`), and a smaller heap only flatters it.
    static let nioTimerFraction = 0.1

    func ops(_ workload: Workload, peer: Peer) -> Int {
        let fraction = workload == .timers && peer == .nio ? Self.nioTimerFraction : 1
        return max(1000, Int(Double(Self.baseOps(workload)) * scale * fraction))
    }

    /// Ring needs two consumers at least.
    func threadCounts(for workload: Workload) -> [Int] {
        workload == .ring ? threadCounts.filter { $0 >= 2 } : threadCounts
    }
}

struct Sweep {
    let plan: SweepPlan

    /// Runs every point, calling `report` with each; throws on the first failed run (a wrong
    /// count or a stall), naming it.
    func run(report: (ScalingPoint) throws -> Void) throws {
        for workload in plan.workloads {
            for peer in plan.peers where peer.runs(workload) {
                for threads in plan.threadCounts(for: workload) {
                    var runs: [RunResult] = []
                    for _ in 0..<plan.repeats {
                        runs.append(try runOnce(workload, peer: peer, threads: threads))
                    }
                    try report(ScalingPoint(workload: workload, peer: peer, threads: threads, runs: runs,
                                            cores: plan.cores))
                }
            }
        }
    }

    func runOnce(_ workload: Workload, peer: Peer, threads: Int) throws -> RunResult {
        let ops = plan.ops(workload, peer: peer)
        let timeout = plan.stallTimeout
        if peer == .eventfdFloor {
            return try RingWorkloads.eventfdFloor(threads: threads, hops: ops, stallTimeout: timeout)
        }
        // Fan-in has one consumer; `threads` counts its producers.
        guard let set = try peer.makeLoopSet(count: workload == .fanIn ? 1 : threads) else {
            throw SweepError.setUp("\(peer.rawValue) has no consumers")
        }
        let result: RunResult
        do {
            result = try run(workload, on: set, threads: threads, ops: ops, timeout: timeout)
        } catch {
            try? set.shutdown()
            throw error
        }
        try set.shutdown()
        return result
    }

    private func run(_ workload: Workload, on set: some LoopSet, threads: Int, ops: Int,
                     timeout: Double) throws -> RunResult {
        let result: RunResult
        switch workload {
        case .fanIn:
            result = try ThroughputWorkloads.fanIn(set, producers: threads, items: ops, stallTimeout: timeout)
        case .fanOut:
            result = try ThroughputWorkloads.fanOut(set, items: ops, stallTimeout: timeout)
        case .allToAll:
            result = try ThroughputWorkloads.allToAll(set, items: ops, stallTimeout: timeout)
        case .ring:
            result = try RingWorkloads.ring(set, hops: ops, stallTimeout: timeout)
        case .futures:
            guard let set = set as? any FutureLoopSet else { throw SweepError.setUp("no futures here") }
            result = try TaskAndTimerWorkloads.roundTrips(set, roundTrips: ops, stallTimeout: timeout)
        case .tasks, .gather, .taskSwitch:
            guard let set = set as? any TaskLoopSet else { throw SweepError.setUp("no tasks here") }
            switch workload {
            case .tasks: result = try TaskAndTimerWorkloads.tasks(set, tasks: ops, stallTimeout: timeout)
            case .gather: result = try TaskAndTimerWorkloads.gather(set, tasks: ops, stallTimeout: timeout)
            default: result = try TaskAndTimerWorkloads.switches(set, switches: ops, stallTimeout: timeout)
            }
        case .timers:
            guard let set = set as? any TimerLoopSet else { throw SweepError.setUp("no timers here") }
            result = try TaskAndTimerWorkloads.timers(set, timers: ops, stallTimeout: timeout)
        }
        return result
    }
}
