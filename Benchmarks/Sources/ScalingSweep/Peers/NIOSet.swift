// SwiftNIO: a MultiThreadedEventLoopGroup; `execute`, `scheduleTask`, and Swift tasks isolated
// to an actor whose executor is the event loop.

import NIOCore
import NIOPosix

final class NIOSet: TimerLoopSet, TaskLoopSet, FutureLoopSet {
    let group: MultiThreadedEventLoopGroup
    let loops: Slots<any EventLoop>
    /// One actor per event loop, running on it (for the tasks workload).
    let actors: [NIOLoopActor]

    init(count: Int) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: count)
        let loops = Array(group.makeIterator())
        self.loops = Slots(loops)
        actors = loops.map(NIOLoopActor.init)
    }

    deinit { loops.free() }

    var count: Int { loops.count }

    @inline(__always)
    func send(to index: Int, _ body: @escaping @Sendable () -> Void) {
        loops[index].execute(body)
    }

    func sender(to index: Int) -> Sender {
        let loop = loops[index]
        return { body in loop.execute(body) }
    }

    /// Only the sweep's thread calls `shutdown`.
    nonisolated(unsafe) private var isShutDown = false

    /// Idempotent (the timers workload shuts down before its final check).
    func shutdown() throws {
        guard !isShutDown else { return }
        isShutDown = true
        try group.syncShutdownGracefully()
    }

    func scheduleTimers(on index: Int, count: Int, fire: @escaping @Sendable () -> Void) -> Int {
        let loop = loops[index]
        var cancelled = 0
        for k in 0..<count {
            let scheduled = loop.scheduleTask(in: .microseconds(Int64(k % 1000)), fire)
            if k % 2 == 0 {
                scheduled.cancel()
                cancelled += 1
            }
        }
        return cancelled
    }

    func runTasks(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void) {
        let actor = actors[index]
        Task { done(await actor.runTasks(count: count, batch: batch)) }
    }

    /// `Task.yield()` in a task isolated to the loop's actor: NIO's nearest to `sleep(0)`.
    func runSwitches(on index: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        let actor = actors[index]
        Task { done(await actor.switches(count)) }
    }
}

extension NIOSet {
    /// `target.submit { 1 }.hop(to: home)`: a promise completed on the other loop, its callback
    /// hopped back to this one, and the next request sent from there.
    func runRoundTrips(from index: Int, to target: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        let chain = RoundTripChain<any EventLoop>(home: loops[index], other: loops[target], count: count, done: done) { chain in
            chain.other.submit { 1 }.hop(to: chain.home).whenSuccess { chain.received($0) }
        }
        chain.home.execute { chain.next() }
    }
}

/// An actor whose serial executor is a NIO event loop: tasks created inside it inherit its
/// isolation, so they run on that loop's thread (NIO 2.101 has no task executor on Linux).
actor NIOLoopActor {
    nonisolated let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    func one() -> Int { 1 }

    func switches(_ count: Int) async -> Int {
        for _ in 0..<count { await Task.yield() }
        return count
    }

    func runTasks(count: Int, batch: Int) async -> Int {
        var completed = 0
        var tasks: [Task<Int, Never>] = []
        tasks.reserveCapacity(batch)
        while completed < count {
            for _ in 0..<min(batch, count - completed) { tasks.append(Task { self.one() }) }
            for task in tasks { completed += await task.value }
            tasks.removeAll(keepingCapacity: true)
        }
        return completed
    }
}
