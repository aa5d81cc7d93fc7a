/// Runs `operations` concurrently as tasks of the running loop and returns their results in
/// argument order. asyncio: `await asyncio.gather(*coros)`.
///
/// If one of them throws, `gather` throws that error (the first to happen) and, unlike asyncio
/// (which lets the others run on), cancels the others. Cancelling the task that awaits `gather`
/// cancels every child.
///
/// - Throws: the first child's error; `EventLoopError.noRunningLoop` off a loop;
///   `CancellationError` if the awaiting task is cancelled.
public func gather<Value: Sendable>(_ operations: [@Sendable () async throws -> Value]) async throws -> [Value] {
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
    try await gatherOutcomes(tasks.map(GatherChild.init), failFast: true)
    return try tasks.map { try $0.result() }
}

/// Like `gather(_:)`, but no child's error stops the others: each result or error comes back
/// in its place. asyncio: `gather(*aws, return_exceptions=True)`. A cancelled child's place
/// holds `CancelledError`.
///
/// - Throws: only `CancellationError` (the awaiting task was cancelled: every child is
///   cancelled too) or `EventLoopError.noRunningLoop`.
public func gather<Value: Sendable>(returningErrors operations: [@Sendable () async throws -> Value]) async throws -> [Result<Value, any Error>] {
    let loop = try getRunningLoop()
    let tasks = operations.map { loop.createTask($0) }
    try await gatherOutcomes(tasks.map(GatherChild.init), failFast: false)
    return tasks.map { task in Result { try task.result() } }
}

/// One child of a gather, type-erased.
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
