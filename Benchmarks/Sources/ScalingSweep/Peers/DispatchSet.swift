// Dispatch: one serial queue per "loop" (serviced by Dispatch's thread pool, not by a thread of
// its own); `async` and `asyncAfter` with a cancellable work item.

import Dispatch

final class DispatchSet: TimerLoopSet, FutureLoopSet {
    let queues: Slots<DispatchQueue>

    init(count: Int) {
        queues = Slots((0..<count).map { DispatchQueue(label: "sweep-\($0)") })
    }

    deinit { queues.free() }

    var count: Int { queues.count }

    @inline(__always)
    func send(to index: Int, _ body: @escaping @Sendable () -> Void) {
        queues[index].async(execute: body)
    }

    func sender(to index: Int) -> Sender {
        let queue = queues[index]
        return { body in queue.async(execute: body) }
    }

    /// In each queue's specific data: a serial queue runs on any of Dispatch's threads.
    func installSinks(_ sinks: [Sink]) throws {
        for (index, sink) in sinks.enumerated() { queues[index].setSpecific(key: CurrentSink.queueKey, value: sink) }
    }

    func shutdown() throws {
        for index in 0..<queues.count { queues[index].sync {} }
    }

    func scheduleTimers(on index: Int, count: Int, fire: @escaping @Sendable () -> Void) -> Int {
        let queue = queues[index]
        let now = DispatchTime.now()
        var cancelled = 0
        for k in 0..<count {
            let item = DispatchWorkItem(block: fire)
            queue.asyncAfter(deadline: now + .microseconds(k % 1000), execute: item)
            if k % 2 == 0 {
                item.cancel()
                cancelled += 1
            }
        }
        return cancelled
    }

    /// `async` to the other queue, which answers with `async` back to this one.
    func runRoundTrips(from index: Int, to target: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        let chain = RoundTripChain<DispatchQueue>(home: queues[index], other: queues[target], count: count, done: done) { chain in
            chain.other.async {
                let value = 1
                chain.home.async { chain.received(value) }
            }
        }
        chain.home.async { chain.next() }
    }
}
