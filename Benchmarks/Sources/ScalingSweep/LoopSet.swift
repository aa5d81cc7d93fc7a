// The one interface every peer offers the workloads: N serial consumers ("loops") that accept
// closures from any thread. The workloads are written once against it, so every peer runs the
// same code around the hand-over; only `send` differs.

/// N serial consumers. `send(to:_:)` may be called from any thread, including a consumer's own;
/// callbacks sent to one consumer never run concurrently with each other.
protocol LoopSet: AnyObject, Sendable {
    var count: Int { get }
    func send(to index: Int, _ body: @escaping @Sendable () -> Void)
    /// Sends `count` copies of `body` to consumer `index` (all-to-all's sends to one target in
    /// one step). By default one `send` each; a peer with a batch API uses it.
    func send(to index: Int, count: Int, _ body: @escaping @Sendable () -> Void)
    /// A function that sends to consumer `index`, holding that consumer itself: what a producer
    /// that always sends to the same loop keeps in a local (`let loop = ...; loop.execute { }`),
    /// so no reference count is touched per call. `send(to:_:)` instead reads the consumer out
    /// of a table per call and retains it for the call, as `loops[i].execute { }` does.
    func sender(to index: Int) -> Sender
    /// Gives each consumer its sink before a run (`CurrentSink`); returns once all have it.
    func installSinks(_ sinks: [Sink]) throws
    /// Stops the consumers and joins or releases their threads. Called once, after the run.
    func shutdown() throws
}

typealias Sender = @Sendable (_ body: @escaping @Sendable () -> Void) -> Void

extension LoopSet {
    func send(to index: Int, count: Int, _ body: @escaping @Sendable () -> Void) {
        for _ in 0..<count { send(to: index, body) }
    }
}

/// Peers that can schedule and cancel timers from inside a consumer.
protocol TimerLoopSet: LoopSet {
    /// Runs on consumer `index` (called from a callback sent there). Schedules `count` timers
    /// with delays `(k % 1000)` µs, cancels every even `k` at once, and makes each odd `k` call
    /// `fire` on that consumer when due. Returns how many it asked to cancel.
    func scheduleTimers(on index: Int, count: Int, fire: @escaping @Sendable () -> Void) -> Int
    /// Whether a cancelled timer still runs something (a cancelled Swift task runs to its end):
    /// such peers call `fire` for those too, and the sweep waits for every timer.
    var cancelledTimersFinish: Bool { get }
}

extension TimerLoopSet {
    var cancelledTimersFinish: Bool { false }
}

/// Peers that run Swift tasks on their consumers.
protocol TaskLoopSet: LoopSet {
    /// From the sweep's thread: on consumer `index`, creates `count` tasks (in batches of
    /// `batch`: create them all, then await each), and calls `done(completed)` when all were
    /// awaited.
    func runTasks(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void)
    /// The same with the peer's way of waiting for a whole batch (asyncio's `gather`); peers
    /// without one create the batch and await each task (`runTasks`).
    func runGather(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void)
    /// From the sweep's thread: on consumer `index`, one task switches `count` times (yields
    /// to the other work of its loop and is resumed), then calls `done(count)`.
    func runSwitches(on index: Int, count: Int, done: @escaping @Sendable (Int) -> Void)
}

extension TaskLoopSet {
    func runGather(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void) {
        runTasks(on: index, count: count, batch: batch, done: done)
    }
}

/// Peers whose loops can ask another loop for a value and wait for the answer on their own.
protocol FutureLoopSet: LoopSet {
    /// From the sweep's thread: on consumer `index`, asks consumer `target` for a value `count`
    /// times, one after the other, each answer arriving back on `index` before the next
    /// request; calls `done(sum of the answers)` on `index` at the end.
    func runRoundTrips(from index: Int, to target: Int, count: Int, done: @escaping @Sendable (Int) -> Void)
}

/// What the sweep measures.
enum Workload: String, CaseIterable, Sendable {
    case fanIn = "fan-in"
    case fanOut = "fan-out"
    case allToAll = "all-to-all"
    case ring
    case futures
    case tasks
    /// Tasks created a thousand at a time and awaited together (asyncio's `gather`).
    case gather
    /// Task switches: a task yields to its loop and is resumed (`sleep(0)`, `Task.yield()`).
    case taskSwitch = "switch"
    case timers

    /// Whether the workload runs Swift tasks (only `TaskLoopSet` peers take part).
    var runsTasks: Bool { self == .tasks || self == .gather || self == .taskSwitch }
}

/// Who is measured.
enum Peer: String, CaseIterable, Sendable {
    case multiloop
    /// MultiLoop's `callSoonThreadsafe`, which returns a cancellable handle (fan-in only).
    case multiloopHandle = "multiloop-handle"
    /// MultiLoop's round trips awaited by a task (`try await future.value`) instead of chained
    /// callbacks (futures only).
    case multiloopAwait = "multiloop-await"
    /// MultiLoop's `executeBatch`: a loop's sends to one target in one step published together
    /// (all-to-all only).
    case multiloopBatched = "multiloop-batched"
    /// MultiLoop with `spinBeforeSleep: .zero`: every idle moment is a sleep in epoll_wait, as
    /// for the peers (ring only).
    case multiloopNoSpin = "multiloop-nospin"
    case nio
    case dispatch
    case globalExecutor = "global-executor"
    case baseline
    /// Plain threads blocking in read() on an eventfd each (ring only): the machine's floor.
    case eventfdFloor = "eventfd-floor"
    /// The runtime's floor for tasks: a minimal executor per thread that only runs jobs from a
    /// local array (tasks, gather and switch only).
    case floor

    /// Makes `count` consumers, or nil when this peer is not a set of consumers.
    func makeLoopSet(count: Int) throws -> (any LoopSet)? {
        switch self {
        case .multiloop: try MultiLoopSet(count: count, spinBeforeSleep: .microseconds(20))
        case .multiloopHandle: try MultiLoopSet(count: count, spinBeforeSleep: .microseconds(20), returnsHandles: true)
        case .multiloopNoSpin: try MultiLoopSet(count: count, spinBeforeSleep: .zero)
        case .multiloopAwait: try MultiLoopSet(count: count, spinBeforeSleep: .microseconds(20), awaitsFutures: true)
        case .multiloopBatched: try MultiLoopSet(count: count, spinBeforeSleep: .microseconds(20), batches: true)
        case .nio: NIOSet(count: count)
        case .dispatch: DispatchSet(count: count)
        case .globalExecutor: GlobalExecutorSet(count: count)
        case .baseline: try BaselineSet(count: count)
        case .floor: FloorSet(count: count)
        case .eventfdFloor: nil
        }
    }

    /// Whether this peer takes part in `workload`.
    func runs(_ workload: Workload) -> Bool {
        switch (self, workload) {
        case (.eventfdFloor, .ring), (.multiloopNoSpin, .ring): true
        case (.eventfdFloor, _), (.multiloopNoSpin, _): false
        case (.multiloopHandle, .fanIn), (.multiloopAwait, .futures), (.multiloopBatched, .allToAll): true
        case (.multiloopHandle, _), (.multiloopAwait, _), (.multiloopBatched, _): false
        case (.floor, let workload): workload.runsTasks
        case (.dispatch, let workload) where workload.runsTasks: false
        case (.baseline, let workload) where workload.runsTasks: false
        case (.baseline, .timers), (.baseline, .futures): false
        default: true
        }
    }
}

/// A fixed array of a peer's consumers, read without touching a shared reference count.
///
/// Reading `someArray[i]` out of a class property retains and releases the array's buffer, a
/// reference count that every producer thread would then write on every call: the harness
/// itself would become the bottleneck of every peer. The element read from here is still
/// retained for the call, as in a program that calls `loops[i].execute { }`.
struct Slots<Element>: @unchecked Sendable {
    private let base: UnsafeMutableBufferPointer<Element>

    init(_ elements: [Element]) {
        base = .allocate(capacity: elements.count)
        _ = base.initialize(from: elements)
    }

    var count: Int { base.count }

    @inline(__always)
    subscript(index: Int) -> Element { base[index] }

    /// Called once by the owner's deinit.
    func free() {
        base.deinitialize().deallocate()
    }
}
