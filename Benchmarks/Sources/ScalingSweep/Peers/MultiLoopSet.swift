// MultiLoop: a `LoopGroup`, one loop per thread; `execute` from any thread (or
// `callSoonThreadsafe`, which also returns a cancellable `Handle`, for the `multiloop-handle` peer).

import MultiLoop

final class MultiLoopSet: TimerLoopSet, TaskLoopSet, FutureLoopSet {
    let group: LoopGroup
    let loops: Slots<EventLoop>
    /// `callSoonThreadsafe` instead of `execute`.
    let returnsHandles: Bool
    /// Round trips awaited by a task instead of chained by done callbacks.
    let awaitsFutures: Bool
    /// Several sends to one loop in one `executeBatch`.
    let batches: Bool

    init(count: Int, spinBeforeSleep: Duration, returnsHandles: Bool = false, awaitsFutures: Bool = false,
         batches: Bool = false) throws {
        group = try LoopGroup(loops: count, name: "sweep", spinBeforeSleep: spinBeforeSleep)
        loops = Slots(group.loops)
        self.returnsHandles = returnsHandles
        self.awaitsFutures = awaitsFutures
        self.batches = batches
    }

    func send(to index: Int, count: Int, _ body: @escaping @Sendable () -> Void) {
        guard batches else {
            for _ in 0..<count { send(to: index, body) }
            return
        }
        do {
            try loops[index].executeBatch { batch in
                for _ in 0..<count { batch.execute(body) }
            }
        } catch {
            fatalError("loop \(index) refused work: \(error)")
        }
    }

    deinit { loops.free() }

    var count: Int { loops.count }

    @inline(__always)
    func send(to index: Int, _ body: @escaping @Sendable () -> Void) {
        // The group is shut down only after the run, so the loop cannot refuse here.
        do {
            if returnsHandles {
                try loops[index].callSoonThreadsafe(body)
            } else {
                try loops[index].execute(body)
            }
        } catch {
            fatalError("loop \(index) refused work: \(error)")
        }
    }

    func sender(to index: Int) -> Sender {
        let loop = loops[index]
        let returnsHandles = returnsHandles
        return { body in
            do {
                if returnsHandles {
                    try loop.callSoonThreadsafe(body)
                } else {
                    try loop.execute(body)
                }
            } catch {
                fatalError("loop \(index) refused work: \(error)")
            }
        }
    }

    func shutdown() throws {
        _ = try group.syncShutdownGracefully()
    }

    func scheduleTimers(on index: Int, count: Int, fire: @escaping @Sendable () -> Void) -> Int {
        let loop = loops[index]
        var cancelled = 0
        do {
            for k in 0..<count {
                let timer = try loop.callLater(Double(k % 1000) * 1e-6, fire)
                if k % 2 == 0 {
                    timer.cancel()
                    cancelled += 1
                }
            }
        } catch {
            fatalError("loop \(index) refused a timer: \(error)")
        }
        return cancelled
    }

    func runTasks(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void) {
        let loop = loops[index]
        loop.createTask {
            var completed = 0
            var tasks: [LoopTask<Int>] = []
            tasks.reserveCapacity(batch)
            while completed < count {
                for _ in 0..<min(batch, count - completed) { tasks.append(loop.createTask { 1 }) }
                for task in tasks { completed += try await task.value }
                tasks.removeAll(keepingCapacity: true)
            }
            done(completed)
        }
    }

    /// `gather` of a batch of operations (asyncio's `await gather(*coros)`): the library's own
    /// gather creates the tasks and waits for all of them.
    func runGather(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void) {
        let loop = loops[index]
        loop.createTask {
            var completed = 0
            while completed < count {
                let operations = [@Sendable () async throws -> Int](repeating: { 1 }, count: min(batch, count - completed))
                for value in try await gather(operations) { completed += value }
            }
            done(completed)
        }
    }

    /// `sleep(0)` in a task of the loop.
    func runSwitches(on index: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        loops[index].createTask {
            for _ in 0..<count { try await sleep(0) }
            done(count)
        }
    }

    /// `other.submit { 1 }` answered on `target`, its done callback run on `index`
    /// (`addDoneCallback(on:)`, the twin of NIO's promise + `hop(to:)`), which sends the next
    /// request; or, with `awaitsFutures`, a task on `index` that awaits each future.
    func runRoundTrips(from index: Int, to target: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        let home = loops[index]
        let other = loops[target]
        if awaitsFutures {
            home.createTask {
                var answered = 0
                for _ in 0..<count { answered += try await other.submit { 1 }.value }
                done(answered)
            }
        } else {
            let chain = RoundTripChain<EventLoop>(home: home, other: other, count: count, done: done) { chain in
                do {
                    try chain.other.submit { 1 }.addDoneCallback(on: chain.home) { future in
                        chain.received(try future.result())
                    }
                } catch {
                    fatalError("a loop refused a round trip: \(error)")
                }
            }
            do { try home.execute { chain.next() } } catch { fatalError("loop \(index) refused work: \(error)") }
        }
    }
}
