// The throughput workloads: fan-in, fan-out and all-to-all. Every callback is the same closure,
// which captures nothing and finds its consumer's counter itself (`CurrentSink`): the same for
// every peer, allocating nothing and sharing no reference count, so what is compared is the
// hand-over itself.

import BenchSupport

enum ThroughputWorkloads {
    /// `producers` threads hand `items` callbacks (split evenly) to consumer 0 of `set`, each
    /// holding that consumer (`sender(to:)`), as a producer that feeds one loop would.
    static func fanIn(_ set: some LoopSet, producers: Int, items: Int, stallTimeout: Double) throws -> RunResult {
        let latch = Latch(count: 1)
        let sink = Sink(target: items, latch: latch)
        try set.installSinks([sink])
        let gate = StartGate(count: producers)
        let threads = (0..<producers).map { producer in
            let share = shareOf(items, index: producer, among: producers)
            let send = set.sender(to: 0)
            return JoinableThread {
                let body = CurrentSink.body
                gate.arriveAndWait()
                for _ in 0..<share { send(body) }
            }
        }
        gate.waitUntilReady()
        let start = nowNs()
        gate.release()
        try latch.wait(seconds: stallTimeout, what: "fan-in, \(producers) producers")
        let end = nowNs()
        for thread in threads { thread.join() }
        guard sink.count == items else { throw SweepError.wrongCount("fan-in: \(sink.count) of \(items)") }
        return RunResult(ops: items, seconds: Double(end - start) / 1e9)
    }

    /// One producer (the sweep's thread) hands `items` callbacks round-robin to every consumer,
    /// reading each out of the table per call (`send(to:_:)`, as `loops[i].execute`).
    static func fanOut(_ set: some LoopSet, items: Int, stallTimeout: Double) throws -> RunResult {
        let n = set.count
        let latch = Latch(count: n)
        let sinks = (0..<n).map { index in Sink(target: shareOf(items, index: index, among: n), latch: latch) }
        try set.installSinks(sinks)
        let body = CurrentSink.body
        let start = nowNs()
        var index = 0
        for _ in 0..<items {
            set.send(to: index, body)
            index += 1
            if index == n { index = 0 }
        }
        try latch.wait(seconds: stallTimeout, what: "fan-out to \(n)")
        let end = nowNs()
        for (index, sink) in sinks.enumerated() where sink.count != sink.target {
            throw SweepError.wrongCount("fan-out: consumer \(index) got \(sink.count) of \(sink.target)")
        }
        return RunResult(ops: items, seconds: Double(end - start) / 1e9)
    }

    /// Every consumer sends `about items / N` callbacks, round-robin over every other consumer
    /// (itself when N is 1), in steps of 64 that re-post themselves to their own consumer, so
    /// that sending and receiving interleave on every consumer. Each consumer receives exactly
    /// what it sends.
    static func allToAll(_ set: some LoopSet, items: Int, stallTimeout: Double) throws -> RunResult {
        let n = set.count
        let others = max(1, n - 1)
        // A multiple of the number of targets, so every consumer receives exactly `quota`.
        let quota = max(others, (items / n) / others * others)
        let latch = Latch(count: n)
        let sinks = (0..<n).map { _ in Sink(target: quota, latch: latch) }
        try set.installSinks(sinks)
        let senders = (0..<n).map { index in
            AllToAllSender(set: set, index: index, targets: n == 1 ? [0] : (1..<n).map { (index + $0) % n },
                           quota: quota)
        }
        let start = nowNs()
        for sender in senders { set.send(to: sender.index, sender.step) }
        try latch.wait(seconds: stallTimeout, what: "all-to-all over \(n)")
        let end = nowNs()
        for (index, sink) in sinks.enumerated() where sink.count != quota {
            throw SweepError.wrongCount("all-to-all: consumer \(index) got \(sink.count) of \(quota)")
        }
        return RunResult(ops: quota * n, seconds: Double(end - start) / 1e9)
    }
}

/// One consumer's sending side in all-to-all. Confined to that consumer: `step` only runs there.
final class AllToAllSender<Set: LoopSet>: @unchecked Sendable {
    static var stepSize: Int { 64 }

    let set: Set
    let index: Int
    private let targets: [Int]
    private let quota: Int
    private var sent = 0
    private var next = 0
    /// `{ self.step() }`, formed once (a cycle, broken when the quota is reached).
    private(set) var step: @Sendable () -> Void = {}

    init(set: Set, index: Int, targets: [Int], quota: Int) {
        self.set = set
        self.index = index
        self.targets = targets
        self.quota = quota
        step = { [self] in self.sendStep() }
    }

    private func sendStep() {
        let end = min(sent + Self.stepSize, quota)
        let body = CurrentSink.body
        // Round-robin over the targets, `end - sent` sends in all, grouped by target: the
        // peer may hand one target its share of the step at once (`send(to:count:_:)`).
        let steps = end - sent
        let rounds = steps / targets.count
        var extra = steps % targets.count
        var target = next
        for _ in 0..<targets.count {
            let count = rounds + (extra > 0 ? 1 : 0)
            if extra > 0 { extra -= 1 }
            if count > 0 { set.send(to: targets[target], count: count, body) }
            target += 1
            if target == targets.count { target = 0 }
        }
        next = (next + steps) % targets.count
        sent = end
        if sent < quota {
            set.send(to: index, step)
        } else {
            step = {}
        }
    }
}
