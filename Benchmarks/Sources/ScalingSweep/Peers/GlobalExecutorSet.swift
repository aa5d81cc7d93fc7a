// Swift's global concurrent executor: each "loop" is a task that drains a mailbox and suspends
// on a continuation when it is empty; `send` appends under a mutex and resumes that
// continuation if the task was suspended. The mutex is a plain pthread mutex: with
// `Synchronization.Mutex` (a priority-inheritance futex on Linux, no spinning) fan-in with 4
// producers on 2 cores collapsed to 37k callbacks/s, which would measure the lock, not the executor. Timers are `Task.sleep` in a task of their own; the
// tasks workload is plain `Task {}` awaited with `.value`.

import BenchSupport

final class GlobalExecutorSet: TimerLoopSet, TaskLoopSet, FutureLoopSet {
    let mailboxes: Slots<Mailbox>
    /// For the futures workload.
    let responders: [Responder]

    init(count: Int) {
        responders = (0..<count).map { _ in Responder() }
        let mailboxes = (0..<count).map { _ in Mailbox() }
        self.mailboxes = Slots(mailboxes)
        for mailbox in mailboxes { Task { await mailbox.drain() } }
    }

    deinit { mailboxes.free() }

    var count: Int { mailboxes.count }

    @inline(__always)
    func send(to index: Int, _ body: @escaping @Sendable () -> Void) {
        mailboxes[index].post(body)
    }

    func sender(to index: Int) -> Sender {
        let mailbox = mailboxes[index]
        return { body in mailbox.post(body) }
    }

    /// In each mailbox, whose drain task puts it in the slot of whichever thread runs a batch.
    func installSinks(_ sinks: [Sink]) throws {
        for (index, sink) in sinks.enumerated() { mailboxes[index].sink = sink }
    }

    func shutdown() throws {
        for index in 0..<mailboxes.count { mailboxes[index].close() }
        for index in 0..<mailboxes.count { mailboxes[index].waitUntilDrained() }
    }

    var cancelledTimersFinish: Bool { true }

    func scheduleTimers(on index: Int, count: Int, fire: @escaping @Sendable () -> Void) -> Int {
        var cancelled = 0
        for k in 0..<count {
            // The task reports back to its "loop" whether it slept or was cancelled: a cancelled
            // Swift task still runs to its end.
            let task = Task { [self] in
                try? await Task.sleep(for: .microseconds(k % 1000))
                send(to: index, fire)
            }
            if k % 2 == 0 {
                task.cancel()
                cancelled += 1
            }
        }
        return cancelled
    }

    func runTasks(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void) {
        Task {
            var completed = 0
            var tasks: [Task<Int, Never>] = []
            tasks.reserveCapacity(batch)
            while completed < count {
                for _ in 0..<min(batch, count - completed) { tasks.append(Task { 1 }) }
                for task in tasks { completed += await task.value }
                tasks.removeAll(keepingCapacity: true)
            }
            done(completed)
        }
    }

    /// `Task.yield()` in a task of the global executor (any of its threads).
    func runSwitches(on index: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        Task.detached {
            for _ in 0..<count { await Task.yield() }
            done(count)
        }
    }
}

extension GlobalExecutorSet {
    /// An actor per "loop": a task isolated to actor `index` awaits a method of actor `target`
    /// (the runtime hops to the other actor and back).
    func runRoundTrips(from index: Int, to target: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        let home = responders[index]
        let other = responders[target]
        Task { await home.ask(other, count: count, done: done) }
    }
}

/// The global executor's "loop" for round trips: a default actor.
actor Responder {
    func answer() -> Int { 1 }

    func ask(_ other: Responder, count: Int, done: @Sendable (Int) -> Void) async {
        var answered = 0
        for _ in 0..<count { answered += await other.answer() }
        done(answered)
    }
}

/// A serial consumer on the global executor.
final class Mailbox: @unchecked Sendable {
    /// The throughput workloads' sink, set by the sweep before the run starts (ordered before
    /// the drain's reads by the mutex of the first `post`).
    var sink: Sink?

    private struct State {
        var items: [@Sendable () -> Void] = []
        /// The drain task, suspended because `items` was empty.
        var waiter: UnsafeContinuation<Void, Never>?
        var closed = false
        var drained = false
    }

    private let state = PThreadLocked(State())

    func post(_ body: @escaping @Sendable () -> Void) {
        let waiter = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            state.items.append(body)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func close() {
        let waiter = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The consumer: takes everything posted so far, runs it, and suspends when there is nothing.
    func drain() async {
        var batch: [@Sendable () -> Void] = []
        while true {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if !state.items.isEmpty || state.closed { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            let finished = state.withLock { state -> Bool in
                swap(&batch, &state.items)
                return state.closed && batch.isEmpty
            }
            if finished { break }
            CurrentSink.set(sink)  // this batch runs on this thread, whichever it is
            for body in batch { body() }
            batch.removeAll(keepingCapacity: true)
        }
        state.withLock { $0.drained = true }
    }

    /// Blocks a plain thread (never a pool thread) until `drain` returned.
    func waitUntilDrained() {
        while !state.withLock({ $0.drained }) { sched_yield() }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
