import CMultiLoopSystem

/// A Swift `async` function running on an event loop as one of its tasks.
/// asyncio equivalent: `asyncio.Task` (create one with `loop.createTask`; inside a loop's task,
/// `getRunningLoop().createTask` is asyncio's `asyncio.create_task`).
///
/// Like asyncio's, a task is a future: `isDone`, `result()`, `exception()`, `isCancelled`,
/// `addDoneCallback`, and `try await task.value`. It runs on its loop's thread (the loop is its
/// `TaskExecutor`), and so do the child tasks it creates with `async let` or a task group.
///
/// `cancel()` requests cancellation (Swift's cooperative cancellation): the task sees it at its
/// next cancellation-aware suspension (`sleep`, awaiting a future or a task, `Lock.acquire`...),
/// which throws `CancellationError`. A task that catches that error and goes on stays alive, as in
/// asyncio. A task that ends by throwing `CancellationError` (or `CancelledError`) is cancelled:
/// its `result()` throws `CancelledError`.
public final class LoopTask<Value: Sendable>: Sendable, CustomStringConvertible {
    /// The future that holds the task's outcome (what asyncio's `Task` inherits from `Future`).
    public let future: Future<Value>
    /// The name given to `createTask`, or nil: then `name` is "Task-<number>" (formatted only
    /// when asked for).
    private let givenName: String?
    private let number: Int
    let task: Task<Void, Never>

    init(future: Future<Value>, name: String?, number: Int, task: Task<Void, Never>) {
        self.future = future
        self.givenName = name
        self.number = number
        self.task = task
    }

    /// The task's name (asyncio: `get_name()`); "Task-N" unless one was given.
    public var name: String { givenName ?? "Task-\(number)" }

    /// The loop the task runs on. asyncio: `get_loop()`.
    public var loop: EventLoop { future.loop }

    /// Requests cancellation. Returns false if the task is already done. asyncio: `cancel()`.
    @discardableResult
    public func cancel() -> Bool {
        if future.isDone { return false }
        task.cancel()
        return true
    }

    /// Whether the task has finished (returned, thrown, or been cancelled). asyncio: `done()`.
    public var isDone: Bool { future.isDone }
    /// Whether the task ended cancelled. asyncio: `cancelled()`.
    public var isCancelled: Bool { future.isCancelled }
    /// Whether cancellation was requested (the task may still be running).
    public var isCancellationRequested: Bool { task.isCancelled }

    /// The task's result; rethrows its error. asyncio: `result()`.
    /// - Throws: `InvalidStateError.resultNotReady` while it runs; `CancelledError` if cancelled.
    public func result() throws -> Value { try future.result() }

    /// The error the task ended with, or nil. asyncio: `exception()`.
    public func exception() throws -> (any Error)? { try future.exception() }

    /// Waits for the task and returns its result. asyncio: `await task`.
    public var value: Value {
        get async throws { try await future.value }
    }

    /// Registers a callback to run once the task is done. asyncio: `add_done_callback`.
    @discardableResult
    public func addDoneCallback(on loop: EventLoop? = nil, file: StaticString = #fileID, line: UInt = #line,
                                _ callback: @escaping @Sendable (LoopTask<Value>) throws -> Void) throws(EventLoopError) -> DoneCallbackToken {
        try future.addDoneCallback(on: loop, file: file, line: line) { [self] _ in try callback(self) }
    }

    /// Unregisters a done callback. asyncio: `remove_done_callback`.
    @discardableResult
    public func removeDoneCallback(_ token: DoneCallbackToken) -> Bool {
        future.removeDoneCallback(token)
    }

    public var description: String {
        "<Task \(name) \(isDone ? future.description : "pending")>"
    }
}

extension EventLoop {
    /// Starts `operation` as a task of this loop. asyncio: `loop.create_task(coro, name=)`.
    ///
    /// Callable from any thread. The task runs on the loop's thread: in the loop's next
    /// iteration, or, with `eager` and when called on the loop's thread, at once until its first
    /// suspension (asyncio 3.12's eager task factory; from another thread `eager` is ignored).
    /// The loop keeps the task until it is done (`allTasks()`).
    ///
    /// A task started on a loop that is closed cannot run there; it runs on Swift's global
    /// executor instead and the exception handler is told (see the executor conformance).
    @discardableResult
    public func createTask<Value: Sendable>(name: String? = nil, eager: Bool = false,
                                            _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        startTask(settling: Future<Value>(loop: self), name: name, eager: eager, operation)
    }

    /// `createTask` with the future the task settles made by the caller (a loop group hands out
    /// the future before the task exists).
    @discardableResult
    func startTask<Value: Sendable>(settling future: Future<Value>, name: String? = nil, eager: Bool = false,
                                    _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        let number = name == nil ? Self.nextTaskNumber() : 0
        countTaskCreated()
        let body: @Sendable () async -> Void = { [self] in
            do {
                future.settle(with: .success(try await operation()))
            } catch {
                future.settle(with: .failure(error))
            }
            unregisterTask(future)
            countTaskFinished()
        }
        let task = eager && isOnLoopThread
            ? Task.immediate(executorPreference: self, operation: body)
            : Task(executorPreference: self, operation: body)
        let loopTask = LoopTask(future: future, name: name, number: number, task: task)
        registerTask(loopTask)
        return loopTask
    }

    /// Makes a cancel of the task's future from outside (by whoever was handed the future) cancel
    /// the task too: a done callback on the task's loop.
    ///
    /// - Throws: `EventLoopError.closed` if that loop is closed.
    func cancelOnFutureCancellation<Value>(_ task: LoopTask<Value>) throws(EventLoopError) {
        try task.future.addDoneCallback(on: self) { future in
            if future.isCancelled { task.task.cancel() }
        }
    }

    /// The tasks of this loop that are not done yet. asyncio: `asyncio.all_tasks(loop)`.
    public func allTasks() -> [any CancellableLoopTask] {
        taskLock.withLock { Array(liveTasks.values) }
    }

    private func registerTask<Value>(_ task: LoopTask<Value>) {
        taskLock.withLock {
            // The task may already have finished (eager, or on a fast loop thread).
            if !task.isDone { liveTasks[ObjectIdentifier(task.future)] = task }
        }
    }

    private func unregisterTask<Value>(_ future: Future<Value>) {
        taskLock.withLock { _ = liveTasks.removeValue(forKey: ObjectIdentifier(future)) }
    }

    private static func nextTaskNumber() -> Int {
        Int(ml_fetch_add_relaxed(taskNumberCounter, 1)) + 1
    }
}

/// What `allTasks()` returns: any task of a loop, whatever its result type.
public protocol CancellableLoopTask: AnyObject, Sendable {
    var name: String { get }
    var isDone: Bool { get }
    @discardableResult func cancel() -> Bool
    /// Waits until the task is done, whatever its outcome.
    func waitUntilDone() async
}

extension LoopTask: CancellableLoopTask {
    public func waitUntilDone() async {
        _ = try? await future.valueIgnoringCancellation()
    }
}

/// The source of task numbers (relaxed fetch-and-add: only uniqueness matters).
private nonisolated(unsafe) let taskNumberCounter: UnsafeMutablePointer<ml_word_t> = {
    let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 1)
    word.initialize(to: 0)
    return word
}()

extension Future {
    /// Completes the future with a task's outcome: a cancellation error cancels it.
    func settle(with outcome: Result<Value, any Error>) {
        switch outcome {
        case .success(let value):
            _ = try? setResult(value)
        case .failure(let error as CancelledError):
            _ = cancel(message: error.message)
        case .failure(is CancellationError):
            _ = cancel()
        case .failure(let error):
            _ = try? setException(error)
        }
    }

    /// Waits for the future even if the waiting task is cancelled (for cleanup).
    func valueIgnoringCancellation() async throws -> Value {
        if isDone { return try result() }
        return try await withUnsafeThrowingContinuation { continuation in
            do {
                try addDoneCallback { future in continuation.resume(with: Result { try future.result() }) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
