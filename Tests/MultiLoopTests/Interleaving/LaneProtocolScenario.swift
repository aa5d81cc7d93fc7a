#if canImport(Glibc)
import Glibc
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// The real lane protocol under the interleaving checker: one loop thread and a few producer
/// threads, each of which registers its lane with its first `execute`, pushes a few numbered
/// callbacks, and then leaves (abandons its lane, as its exit would). The loop thread runs the
/// loop, with no spinning before it sleeps, so that every sleep is the real
/// `EMPTY -> SLEEPING`, lane scan, epoll wait and `SLEEPING -> EMPTY` sequence.
///
/// Without `closeAfter`, the last callback stops the loop. With it, the loop stops after that
/// many callbacks and its thread closes it while the producers may still be pushing: every push
/// must then either be refused with `EventLoopError.closed` or run (in an iteration or in close).
///
/// Checked after each run: each producer's callbacks ran exactly once and in its order, and they
/// are exactly the ones it was told were accepted; no push failed for another reason; a loop
/// that was not closed during the run has nothing left for close. A lost wake-up shows as a
/// deadlock (the loop waits, nobody will write its eventfd); a lost registration or item too,
/// since the loop then waits for a callback that never comes.
final class LaneProtocolScenario: InterleavingScenario, @unchecked Sendable {
    let loop: EventLoop
    let producers: Int
    let itemsPerProducer: Int
    let closeAfter: Int?

    // The loop thread's (and, after the run, the checker's).
    private var received: [[Int]]
    private var ran = 0
    private var loopErrors: [String] = []
    private var closedDuringRun = false

    // Producer `p` writes only its own element (one thread moves at a time in any case).
    private let accepted: UnsafeMutableBufferPointer<Int>
    private let refused: UnsafeMutableBufferPointer<Int>
    private var producerErrors: [String] = []

    init(producers: Int, itemsPerProducer: Int, closeAfter: Int? = nil) {
        // No spinning before a sleep: every sleep goes through the whole protocol.
        loop = try! EventLoop(spinBeforeSleep: .zero)
        self.producers = producers
        self.itemsPerProducer = itemsPerProducer
        self.closeAfter = closeAfter
        received = Array(repeating: [], count: producers)
        accepted = .allocate(capacity: producers)
        accepted.initialize(repeating: 0)
        refused = .allocate(capacity: producers)
        refused.initialize(repeating: 0)
    }

    deinit {
        accepted.deallocate()
        refused.deallocate()
    }

    var threadCount: Int { producers + 1 }

    var wakers: [(eventFD: Int32, epollFD: Int32)] { [(loop.waker.eventFD, loop.waker.epollFD)] }

    func run(thread index: Int) {
        if index == 0 { runLoop() } else { produce(index - 1) }
    }

    private func runLoop() {
        do {
            try loop.runForever()
        } catch {
            loopErrors.append("runForever threw \(error)")
        }
        guard closeAfter != nil else { return }
        do {
            try loop.close()
            closedDuringRun = true
        } catch {
            loopErrors.append("close threw \(error)")
        }
    }

    private func produce(_ producer: Int) {
        for item in 0..<itemsPerProducer {
            do {
                try loop.execute { [self] in received(item, from: producer) }
                accepted[producer] += 1
            } catch .closed {
                refused[producer] += 1
            } catch {
                producerErrors.append("producer \(producer), item \(item): execute threw \(error)")
            }
        }
        // What the thread's exit does: its lanes are abandoned.
        ProducerLanes.abandonCurrentThreadLanes()
    }

    /// A callback, on the loop thread (in an iteration, or in close).
    private func received(_ item: Int, from producer: Int) {
        received[producer].append(item)
        ran += 1
        if ran == (closeAfter ?? producers * itemsPerProducer) { loop.stop() }
    }

    func unblockAfterAbort() {
        loop.stop()
    }

    func violations() -> [String] {
        var found = loopErrors + producerErrors
        for producer in 0..<producers {
            let expected = Array(0..<accepted[producer])
            if received[producer] != expected {
                found.append("producer \(producer): \(accepted[producer]) accepted, \(refused[producer]) refused, "
                             + "but the loop ran \(received[producer]) (expected \(expected): each accepted "
                             + "callback once, in order)")
            }
            if accepted[producer] + refused[producer] != itemsPerProducer, producerErrors.isEmpty {
                found.append("producer \(producer): \(accepted[producer]) accepted + \(refused[producer]) refused")
            }
            if closeAfter == nil && refused[producer] != 0 {
                found.append("producer \(producer): \(refused[producer]) refused by a loop that was not closed")
            }
        }
        if !closedDuringRun { found += closeFindingNothingLeft(loop) }
        return found
    }
}

/// Closes a scenario's loop after a run that ended without closing it: close must find nothing
/// the run should have run. Returns what went wrong (empty: nothing).
func closeFindingNothingLeft(_ loop: EventLoop) -> [String] {
    do {
        let report = try loop.close()
        return report.callbacksRun == 0 ? []
            : ["close ran \(report.callbacksRun) callback(s) that the run should have run"]
    } catch {
        return ["close after the run threw \(error)"]
    }
}
