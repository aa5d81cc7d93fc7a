// Ring latency: one token hops consumer 0 -> 1 -> ... -> N-1 -> 0 ...; N = 2 is ping-pong.
// Each hop is a new closure carrying the time it was sent; the receiver records now minus that.
// Next to it, the machine's floor: the same ring of plain threads, each blocked in read() on an
// eventfd of its own and write()-ing the next one's, with no queue at all.

import BenchSupport
import CBenchSystem
import Synchronization

enum RingWorkloads {
    /// The first 1% of hops are dropped from the latencies as warm-up.
    static func warmUp(_ hops: Int) -> Int { hops / 100 }

    static func ring(_ set: some LoopSet, hops: Int, stallTimeout: Double) throws -> RunResult {
        let run = RingRun(set: set, hops: hops)
        let start = nowNs()
        let sentAt = nowNs()
        set.send(to: 0) { run.hop(at: 0, sentAt: sentAt) }
        try run.latch.wait(seconds: stallTimeout, what: "ring of \(set.count)")
        let end = nowNs()
        guard run.samples.count == hops else { throw SweepError.wrongCount("ring: \(run.samples.count) of \(hops) hops") }
        return RunResult(ops: hops, seconds: Double(end - start) / 1e9,
                         latenciesNs: Array(run.samples.dropFirst(warmUp(hops))))
    }

    static func eventfdFloor(threads n: Int, hops: Int, stallTimeout: Double) throws -> RunResult {
        let floor = try EventfdRing(threads: n, hops: hops)
        let start = nowNs()
        floor.kick()
        defer { floor.stop() }
        try floor.latch.wait(seconds: stallTimeout, what: "eventfd ring of \(n)")
        let end = nowNs()
        guard floor.samples.count == hops else { throw SweepError.wrongCount("eventfd ring: \(floor.samples.count) of \(hops)") }
        return RunResult(ops: hops, seconds: Double(end - start) / 1e9,
                         latenciesNs: Array(floor.samples.dropFirst(warmUp(hops))))
    }
}

/// The token's state. Only the consumer holding the token touches it; each hand-over (the
/// peer's queue, or the eventfd's write and read) orders one holder's writes before the next's.
final class RingRun<Set: LoopSet>: @unchecked Sendable {
    let set: Set
    let hops: Int
    let latch = Latch(count: 1)
    private(set) var samples: [UInt64] = []

    init(set: Set, hops: Int) {
        self.set = set
        self.hops = hops
        samples.reserveCapacity(hops)
    }

    func hop(at index: Int, sentAt: UInt64) {
        samples.append(nowNs() &- sentAt)
        if samples.count == hops {
            latch.arrive()
            return
        }
        let next = index + 1 == set.count ? 0 : index + 1
        let now = nowNs()
        set.send(to: next) { [self] in hop(at: next, sentAt: now) }
    }
}

/// The floor: N threads in a ring of eventfds.
final class EventfdRing: @unchecked Sendable {
    let latch = Latch(count: 1)
    private let fds: [Int32]
    private let hops: Int
    /// Written by the holder before it signals the next thread, read by that thread after its
    /// read() returned: the eventfd's write/read pair orders them.
    private var sentAt: UInt64 = 0
    private(set) var samples: [UInt64] = []
    private let stopping = Atomic(false)
    private var threads: [JoinableThread] = []

    init(threads n: Int, hops: Int) throws {
        var fds: [Int32] = []
        for _ in 0..<n {
            let fd = bench_eventfd()
            guard fd >= 0 else {
                for fd in fds { close(fd) }
                throw SweepError.setUp("eventfd failed")
            }
            fds.append(fd)
        }
        self.fds = fds
        self.hops = hops
        samples.reserveCapacity(hops)
        threads = (0..<n).map { index in JoinableThread { [self] in self.main(index) } }
    }

    deinit {
        for fd in fds { close(fd) }
    }

    func kick() {
        sentAt = nowNs()
        bench_eventfd_signal(fds[0])
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        for fd in fds { bench_eventfd_signal(fd) }
        for thread in threads { thread.join() }
        threads = []
    }

    private func main(_ index: Int) {
        let next = fds[index + 1 == fds.count ? 0 : index + 1]
        while true {
            bench_eventfd_wait(fds[index])
            if stopping.load(ordering: .acquiring) { return }
            samples.append(nowNs() &- sentAt)
            if samples.count == hops {
                latch.arrive()
                continue
            }
            sentAt = nowNs()
            bench_eventfd_signal(next)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
