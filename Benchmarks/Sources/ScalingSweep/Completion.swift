// How a run knows it is over: every consumer ("loop") counts what it received in a `Sink`, and
// the sink that reaches its target arrives at a `Latch` the sweep's thread waits on.

import BenchSupport
import Synchronization

/// Counts arrivals; the last one wakes the waiter. Any thread.
final class Latch: Sendable {
    /// Relaxed would do for the count itself; `.acquiringAndReleasing` orders each consumer's
    /// work before the waiter's wake-up (the semaphore orders it too).
    private let remaining: Atomic<Int>
    private let done = Semaphore()

    init(count: Int) {
        remaining = Atomic(count)
        if count == 0 { done.signal() }
    }

    func arrive() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.signal() }
    }

    var outstanding: Int { remaining.load(ordering: .acquiring) }

    /// Waits for the last arrival, at most `seconds`; a run that stalls is an error, never a hang.
    func wait(seconds: Double, what: @autoclosure () -> String) throws(SweepError) {
        guard done.wait(seconds: seconds) else {
            throw .stalled("\(what()): \(outstanding) consumer(s) still short after \(Int(seconds)) s")
        }
    }
}

/// A consumer's counter. Confined to its consumer: only the callbacks that consumer runs touch
/// `count` (a loop thread, a serial queue, a mailbox task), so it needs no synchronisation.
/// Padded to a cache line of its own: sinks made one after another would otherwise share a line,
/// and the consumers' counts would invalidate each other's (false sharing, a harness cost).
final class Sink: @unchecked Sendable {
    private(set) var count = 0
    let target: Int
    private let latch: Latch
    private let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)

    /// Arrives at once when `target` is 0.
    init(target: Int, latch: Latch) {
        self.target = target
        self.latch = latch
        if target == 0 { latch.arrive() }
    }

    @inline(__always)
    func bump() {
        count += 1
        if count == target { latch.arrive() }
    }
}

enum SweepError: Error, CustomStringConvertible {
    /// A run did not finish in time (a lost callback, or a peer that stopped making progress).
    case stalled(String)
    /// A run finished with the wrong count.
    case wrongCount(String)
    /// A peer could not be set up.
    case setUp(String)

    var description: String {
        switch self {
        case .stalled(let what): "stalled: \(what)"
        case .wrongCount(let what): "wrong count: \(what)"
        case .setUp(let what): "set-up failed: \(what)"
        }
    }
}

/// Threads that wait at a gate until the sweep opens it, so that timing starts when all of them
/// are ready (thread creation is never timed).
final class StartGate: Sendable {
    private let gate = Semaphore()
    private let ready = Semaphore()
    private let count: Int

    init(count: Int) { self.count = count }

    /// Called by each thread: tells the sweep it is ready, then waits for the gate.
    func arriveAndWait() {
        ready.signal()
        gate.wait()
    }

    /// Called by the sweep: waits until every thread is ready.
    func waitUntilReady() {
        for _ in 0..<count { ready.wait() }
    }

    /// Called by the sweep after `waitUntilReady()`: lets every thread go.
    func release() {
        for _ in 0..<count { gate.signal() }
    }
}

/// Consumer `index`'s part of `total` operations split as evenly as possible among `n`
/// (the first `total % n` get one more).
func shareOf(_ total: Int, index: Int, among n: Int) -> Int {
    total / n + (index < total % n ? 1 : 0)
}
