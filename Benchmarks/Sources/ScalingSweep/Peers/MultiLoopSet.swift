// MultiLoop: a `LoopGroup`, one loop per thread; `execute` from any thread (or
// `callSoonThreadsafe`, which also returns a cancellable `Handle`, for the `multiloop-handle` peer).

import MultiLoop

final class MultiLoopSet: TimerLoopSet, TaskLoopSet {
    let group: LoopGroup
    let loops: [EventLoop]
    /// The same loops, read without a retain: `group` keeps them alive. Reading a class element
    /// out of an array retains it, and the release after the call would make the loop object's
    /// reference count a cache line that producers and the loop thread fight over (a program
    /// that holds its loop in a local does not pay that).
    private let unretainedLoops: [Unmanaged<EventLoop>]

    /// `callSoonThreadsafe` instead of `execute`.
    let returnsHandles: Bool

    init(count: Int, spinBeforeSleep: Duration, returnsHandles: Bool = false) throws {
        group = try LoopGroup(loops: count, name: "sweep", spinBeforeSleep: spinBeforeSleep)
        loops = group.loops
        unretainedLoops = loops.map { Unmanaged.passUnretained($0) }
        self.returnsHandles = returnsHandles
    }

    var count: Int { loops.count }

    @inline(__always)
    func send(to index: Int, _ body: @escaping @Sendable () -> Void) {
        // The group is shut down only after the run, so `execute` cannot refuse here.
        // (A non-throwing closure: a typed-throws one here crashes Swift 6.3.1's optimiser.)
        let accepted = unretainedLoops[index]._withUnsafeGuaranteedRef { loop -> Bool in
            do {
                if returnsHandles {
                    try loop.callSoonThreadsafe(body)
                } else {
                    try loop.execute(body)
                }
                return true
            } catch {
                return false
            }
        }
        if !accepted { fatalError("loop \(index) refused work") }
    }

    func shutdown() throws {
        _ = try group.shutdownGracefully()
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
}
