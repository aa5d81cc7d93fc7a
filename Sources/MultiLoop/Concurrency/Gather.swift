import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// Runs `operations` concurrently as tasks of the running loop and returns their results in
/// argument order. asyncio: `await asyncio.gather(*coros)`.
///
/// If one of them throws, `gather` throws that error (the first to happen) and, unlike asyncio
/// (which lets the others run on), cancels the others. Cancelling the task that awaits `gather`
/// cancels every child.
///
/// - Throws: the first child's error; `EventLoopError.noRunningLoop` off a loop;
///   `CancellationError` if the awaiting task is cancelled.
@inlinable
public func gather<Value: Sendable>(_ operations: [@Sendable () async throws -> Value]) async throws -> [Value] {
    // Inlinable, like `createTask`, so that the tasks are made by code specialized for `Value`.
    let loop = try getRunningLoop()
    return try await gather(operations.map { loop.createTask($0) })
}

/// Variadic form of `gather(_:)` for operations of different result types: the results come back
/// as a tuple, in argument order.
public func gather<each Value: Sendable>(_ operations: repeat @escaping @Sendable () async throws -> each Value) async throws -> (repeat each Value) {
    let loop = try getRunningLoop()
    let tasks = (repeat loop.createTask(each operations))
    var children: [GatherChild] = []
    for task in repeat each tasks { children.append(GatherChild(task)) }
    try await gatherOutcomes(children, failFast: true)
    return (repeat try (each tasks).result())
}

/// Waits for tasks (of any loops) and returns their results in argument order; see
/// `gather(_:)` for errors and cancellation (the tasks are cancelled if one fails).
public func gather<Value: Sendable>(_ tasks: [LoopTask<Value>]) async throws -> [Value] {
    try await GatherWaiter.waitForAll(tasks, failFast: true)
    return try tasks.map { try $0.result() }
}

/// Like `gather(_:)`, but no child's error stops the others: each result or error comes back
/// in its place. asyncio: `gather(*aws, return_exceptions=True)`. A cancelled child's place
/// holds `CancelledError`.
///
/// - Throws: only `CancellationError` (the awaiting task was cancelled: every child is
///   cancelled too) or `EventLoopError.noRunningLoop`.
@inlinable
public func gather<Value: Sendable>(returningErrors operations: [@Sendable () async throws -> Value]) async throws -> [Result<Value, any Error>] {
    let loop = try getRunningLoop()
    let tasks = operations.map { loop.createTask($0) }
    try await GatherWaiter.waitForAll(tasks, failFast: false)
    return tasks.map { task in Result { try task.result() } }
}

/// One child of a variadic gather, type-erased.
struct GatherChild: Sendable {
    let task: any CancellableLoopTask
    let whenDone: @Sendable (EventLoop, @escaping @Sendable ((any Error)?) -> Void) throws -> Void

    init<Value>(_ task: LoopTask<Value>) {
        self.task = task
        whenDone = { loop, report in
            try task.addDoneCallback(on: loop) { task in
                report(Result { try task.result() }.failureValue)
            }
        }
    }
}

/// Waits until every child is done, or (with `failFast`) until the first error, which it
/// throws after cancelling the rest. Cancelling the waiting task cancels every child.
private func gatherOutcomes(_ children: [GatherChild], failFast: Bool) async throws {
    guard !children.isEmpty else { return }
    let loop = try getRunningLoop()
    let all = loop.createFuture(of: Void.self)
    let remaining = LoopConfinedCounter(children.count)
    for child in children {
        try child.whenDone(loop) { error in
            // Runs on `loop`'s thread: the counter needs no lock.
            remaining.value -= 1
            if let error, failFast, !all.isDone {
                _ = try? all.setException(error)
                all.markRetrieved()  // internal: a gather cancelled meanwhile never reads it
                for other in children { other.task.cancel() }
            } else if remaining.value == 0, !all.isDone {
                _ = try? all.setResult(())
            }
        }
    }
    try await withTaskCancellationHandler {
        try await all.value
    } onCancel: {
        for child in children { child.task.cancel() }
    }
}

/// A count touched only on one loop's thread.
private final class LoopConfinedCounter: @unchecked Sendable {
    var value: Int
    init(_ value: Int) { self.value = value }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Waits for every task of a homogeneous gather, or (with `failFast`) for the first error.
///
/// One object per gather, whatever the number of tasks: it listens to each task in that task's
/// awaiter slot (`Future.registerInSlot`), so a task costs no allocation beyond itself (a task
/// whose slot is taken gets a forwarding node). `futureDidComplete` runs on each task's
/// completing thread: it counts down (an atomic word: the tasks may belong to several loops),
/// and the first error or the last completion settles `all`, which the gathering task awaits.
/// The gathering task cancels the others itself when it sees an error, so no user code (a
/// task's cancellation handlers) runs inside another task's completion.
@usableFromInline
final class GatherWaiter<Value: Sendable>: FutureNode, @unchecked Sendable {
    /// Settled once: `()` when every task is done, or the first error (with `failFast`).
    private let all: Future<Void>
    private let failFast: Bool

    private init(count: Int, loop: EventLoop, failFast: Bool) {
        all = Future(loop: loop)
        self.failFast = failFast
        super.init(kind: .signal, file: #fileID, line: #line)
        ml_store_relaxed(stateWord, ml_word_t(count))  // the tasks not done yet
    }

    /// Waits until every task is done, or rethrows the first error after cancelling the
    /// others (`failFast`). Cancelling the waiting task cancels every task and throws
    /// `CancellationError`.
    @usableFromInline
    static func waitForAll(_ tasks: [LoopTask<Value>], failFast: Bool) async throws {
        guard let first = tasks.first else { return }
        let waiter = GatherWaiter(count: tasks.count, loop: first.loop, failFast: failFast)
        for task in tasks {
            switch task.registerInSlot(waiter) {
            case .registered:
                break
            case .alreadyDone:
                waiter.futureDidComplete(task)
            case .slotTaken:
                if !task.register(GatherForwarder(waiter)) { waiter.futureDidComplete(task) }
            }
        }
        do {
            try await withTaskCancellationHandler {
                try await waiter.all.value
            } onCancel: {
                for task in tasks { task.cancel() }
            }
        } catch {
            for task in tasks { task.cancel() }
            throw error
        }
    }

    /// One task is done (on its completing thread, or the registering one).
    override func futureDidComplete(_ future: AnyObject) {
        let task = unsafeDowncast(future, to: Future<Value>.self)
        if let error = task.storedError {
            // The gather answers for every child's error (asyncio's gather retrieves them all),
            // the first by throwing it, the others by design (they are the rest of a failure).
            task.markRetrieved()
            if failFast, !all.isDone, (try? all.setException(error)) != nil {
                all.markRetrieved()  // internal: a gather cancelled meanwhile never reads it
            }
        }
        // acq_rel: the last one down sees every other task's outcome published.
        if ml_fetch_add_acq_rel(stateWord, -1) == 1 {
            _ = try? all.setResult(())
        }
    }
}

/// Forwards one task's completion to a gather's waiter, for a task whose slot was taken.
final class GatherForwarder<Value: Sendable>: FutureNode, @unchecked Sendable {
    private let waiter: GatherWaiter<Value>

    init(_ waiter: GatherWaiter<Value>) {
        self.waiter = waiter
        super.init(kind: .signal, file: #fileID, line: #line)
    }

    override func futureDidComplete(_ future: AnyObject) {
        waiter.futureDidComplete(future)
    }
}
