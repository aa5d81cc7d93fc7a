#if canImport(Glibc)
import Glibc
#endif
import MultiLoop
import _MultiLoopSystem

/// `multiloop demo`: one loop thread, several producer threads handing it work through
/// `callSoonThreadsafe`, a timer from a foreign thread, a future completed on one thread and
/// waited for on another. Prints what happened and the loop's statistics; exits 1 if any
/// callback was lost, duplicated or reordered.
enum Demo {
    static let usage = """
        usage: multiloop [demo [PRODUCERS]]
          demo   PRODUCERS threads (default 4) hand 1 000 000 numbered callbacks in all to one
                 event loop; checks that each runs exactly once, in order per producer, and
                 prints the loop's statistics
        """

    /// Loop-thread-only bookkeeping (only callbacks on the loop touch it).
    final class Tally: @unchecked Sendable {
        var next: [Int]
        var violations = 0
        var ran = 0
        init(producers: Int) { next = Array(repeating: 0, count: producers) }
    }

    static func run(producers: Int, callbacksPerProducer: Int) -> Int32 {
        do {
            let loop = try newEventLoop()
            let tally = Tally(producers: producers)
            let loopThread = PThread(name: "demo-loop") { try? loop.runForever() }  // the library's (package)

            // A timer set from this (foreign) thread travels through the inbox.
            let timerFired = loop.createFuture(of: Double.self)
            let start = loop.time()
            try loop.callLater(0.05) { try timerFired.setResult(loop.time() - start) }

            let began = loop.time()
            // Each producer's last callback completes its marker: a thread's callbacks run in the
            // order it handed them over, so when every marker is complete the loop has run every
            // callback (a count read "a few hops later" would not do: a backlog of more than 1024
            // items per lane is taken 1024 per iteration; see EventLoop, "Order").
            let markers = (0..<producers).map { _ in loop.createFuture(of: Void.self) }
            let threads = (0..<producers).map { producer in
                PThread(name: "producer-\(producer)") {
                    for sequence in 0..<callbacksPerProducer {
                        _ = try? loop.callSoonThreadsafe({ (tally: Tally) in
                            if tally.next[producer] != sequence { tally.violations += 1 }
                            tally.next[producer] = sequence + 1
                            tally.ran += 1
                        }, tally)
                    }
                    _ = try? loop.callSoonThreadsafe { try markers[producer].setResult(()) }
                }
            }
            threads.forEach { $0.join() }
            // A future completed by a callback on the loop, waited for from this plain thread.
            for marker in markers { try marker.wait(timeout: 30) }
            let elapsed = loop.time() - began
            let timerDelay = try timerFired.wait(timeout: 30)

            loop.stop()
            loopThread.join()
            try loop.close()
            let ran = tally.ran  // after the join: the loop thread's writes are visible

            let expected = producers * callbacksPerProducer
            print("\(producers) producer threads handed \(expected) callbacks to one loop in "
                  + "\(String(format2: elapsed)) s (\(Int(Double(expected) / elapsed)) per second)")
            print("ran \(ran), violations (lost, duplicated or out of order) \(tally.violations)")
            print("timer set for 0.050 s from another thread fired after \(String(format2: timerDelay)) s")
            print("loop statistics: \(loop.statistics)")
            return ran == expected && tally.violations == 0 ? 0 : 1
        } catch {
            print("multiloop demo failed: \(error)")
            return 1
        }
    }
}

extension String {
    init(format2 value: Double) {
        let scaled = (value * 1000).rounded() / 1000
        self = "\(scaled)"
    }
}
