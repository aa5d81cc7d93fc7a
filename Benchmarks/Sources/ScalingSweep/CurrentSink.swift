// The consumer's sink, found without a capture: the throughput workloads' callbacks capture
// nothing (`{ CurrentSink.bump() }`), so no closure context and no reference count is shared
// between the producer and the consumer, for any peer; what is compared is the hand-over.
//
// Each consumer finds its sink in a thread-local slot set before the run: on its thread
// (MultiLoop, NIO, baseline: a set-up callback), per batch (the global executor's mailbox task,
// which may change threads between batches), or, for Dispatch, whose serial queues run on any
// pool thread, in the queue's specific data.

import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum CurrentSink {
    /// One key for the process (never deleted).
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    static let queueKey = DispatchSpecificKey<Sink>()

    /// Sets the calling thread's sink (unretained: the run keeps its sinks alive).
    static func set(_ sink: Sink?) {
        pthread_setspecific(key, sink.map { Unmanaged.passUnretained($0).toOpaque() })
    }

    @inline(__always)
    static func bump() {
        if let raw = pthread_getspecific(key) {
            Unmanaged<Sink>.fromOpaque(raw)._withUnsafeGuaranteedRef { $0.bump() }
        } else if let sink = DispatchQueue.getSpecific(key: queueKey) {
            sink.bump()
        } else {
            fatalError("a callback ran where no sink was set")
        }
    }

    /// The callback of every throughput workload.
    static let body: @Sendable () -> Void = { CurrentSink.bump() }
}

extension LoopSet {
    /// For consumers that are threads (MultiLoop, NIO, the baseline): a set-up callback on each
    /// stores its sink in that thread's slot. Dispatch and the global executor, whose consumers
    /// change threads, give theirs their own way.
    func installSinks(_ sinks: [Sink]) throws {
        precondition(sinks.count == count)
        let latch = Latch(count: count)
        for (index, sink) in sinks.enumerated() {
            send(to: index) {
                CurrentSink.set(sink)
                latch.arrive()
            }
        }
        try latch.wait(seconds: 60, what: "installing sinks")
    }
}
