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
public final class LoopTask<Value: Sendable>: Future<Value>, @unchecked Sendable {
    // One object per task: the future (the superclass), the task's bookkeeping (name, the Swift
    // task, its place in the loop's task list) and, while the task runs, its operation.
    // `operation` is written by `init` and taken by the task's body, on the loop thread, before
    // anyone else can see it; `swiftTask` is written once by `startTask` before the task is
    // handed to anyone (its registration in the task list is under the list's lock); `liveIndex`
    // is guarded by the loop's `taskLock`.
    @usableFromInline @exclusivity(unchecked) var operation: (@Sendable () async throws -> Value)?
    /// The name given to `createTask`, or nil: then `name` is "Task-<number>" (formatted only
    /// when asked for).
    @usableFromInline let givenName: String?
    @usableFromInline let number: Int
    /// A future made before the task (a loop group's `submitTask`), settled with the same
    /// outcome.
    @usableFromInline let alsoSettles: Future<Value>?
    @usableFromInline @exclusivity(unchecked) var swiftTask: Task<Void, Never>?
    /// The task's index in its loop's `liveTasks`, -1 when not there. Guarded by `taskLock`.
    @usableFromInline @exclusivity(unchecked) var liveIndex = -1

    @inlinable
    init(loop: EventLoop, name: String?, number: Int, alsoSettles: Future<Value>?,
         operation: @escaping @Sendable () async throws -> Value) {
        self.operation = operation
        self.givenName = name
        self.number = number
        self.alsoSettles = alsoSettles
        super.init(loop: loop)
    }

    /// The future that holds the task's outcome: the task itself (asyncio's `Task` is a
    /// `Future`).
    public var future: Future<Value> { self }

    /// The task's name (asyncio: `get_name()`); "Task-N" unless one was given.
    public var name: String { givenName ?? "Task-\(number)" }

    /// Requests cancellation. Returns false if the task is already done. asyncio: `cancel()`.
    ///
    /// This cancels the task's body (Swift's cooperative cancellation); the task is done, and
    /// `isCancelled`, only once the body has ended with `CancellationError`. `future.cancel()`
    /// (the `Future` method) instead completes the future as cancelled at once.
    @discardableResult
    public func cancel() -> Bool {
        if isDone { return false }
        swiftTask?.cancel()
        return true
    }

    /// Whether cancellation was requested (the task may still be running).
    public var isCancellationRequested: Bool { swiftTask?.isCancelled ?? false }

    /// Registers a callback to run once the task is done, with the task as its argument.
    /// asyncio: `add_done_callback`. See `Future.addDoneCallback`.
    @discardableResult
    public override func addDoneCallback(on loop: EventLoop? = nil, file: StaticString = #fileID, line: UInt = #line,
                                         _ callback: @escaping @Sendable (LoopTask<Value>) throws -> Void) throws(EventLoopError) -> DoneCallbackToken {
        try super.addDoneCallback(on: loop, file: file, line: line) { future in
            try callback(unsafeDowncast(future, to: LoopTask<Value>.self))
        }
    }

    public override var description: String {
        "<Task \(name) \(isDone ? super.description : "pending")>"
    }

    /// The task's body: runs the operation, settles the task (and `alsoSettles`), and leaves
    /// the loop's task list. The operation is dropped before the task settles, so its captures
    /// are released as soon as it returns.
    @inlinable
    final func run() async {
        guard let operation = operation.take() else { return }
        let outcome: Result<Value, any Error>
        do {
            outcome = .success(try await operation())
        } catch {
            outcome = .failure(error)
        }
        settle(with: outcome)
        alsoSettles?.settle(with: outcome)
        loop.unregisterTask(self)
        loop.countTaskFinished()
    }

    /// Starts the Swift task that runs the body, on `loop` (its executor preference): inline
    /// until its first suspension with `eager` (the caller is on the loop's thread).
    @inlinable
    final func start(eager: Bool) {
        // The closures capture the task alone: the context is the task object itself. Written
        // inline in each call, not shared through a variable: a closure value converted to the
        // initializer's parameter type costs a thunk and its context, an allocation per task.
        if eager {
            swiftTask = Task.immediate(executorPreference: loop) { [self] in await run() }
        } else {
            swiftTask = Task(executorPreference: loop) { [self] in await run() }
        }
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
    ///
    /// Inlinable, with the task's body, so that both are specialized for `Value` in the caller.
    @inlinable @discardableResult
    public func createTask<Value: Sendable>(name: String? = nil, eager: Bool = false,
                                            _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        startTask(settling: nil, name: name, eager: eager, operation)
    }

    /// `createTask`, also settling `future`, made by the caller (a loop group hands out the
    /// future before the task exists).
    @inlinable @discardableResult
    func startTask<Value: Sendable>(settling future: Future<Value>?, name: String? = nil, eager: Bool = false,
                                    _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        let task = LoopTask(loop: self, name: name, number: name == nil ? nextTaskNumber() : 0,
                            alsoSettles: future, operation: operation)
        countTaskCreated()
        task.start(eager: eager && isOnLoopThread)
        registerTask(task)
        return task
    }

    /// Makes a cancel of `future` from outside (by whoever was handed it) cancel `task`: a done
    /// callback on the task's loop.
    ///
    /// - Throws: `EventLoopError.closed` if that loop is closed.
    func cancelTask<Value>(_ task: LoopTask<Value>, whenCancelled future: Future<Value>) throws(EventLoopError) {
        try future.addDoneCallback(on: self) { future in
            if future.isCancelled { task.swiftTask?.cancel() }
        }
    }

    /// The tasks of this loop that are not done yet. asyncio: `asyncio.all_tasks(loop)`.
    public func allTasks() -> [any CancellableLoopTask] {
        taskLock.withLock { liveTasks.map { $0 } }
    }

    /// Adds a task to the list of live tasks, unless it is already done (eager, or run at once
    /// by the loop thread while another thread created it): the lock orders this check with the
    /// body's `unregisterTask`.
    @usableFromInline
    func registerTask(_ task: any LiveLoopTask) {
        taskLock.withLock {
            guard !task.isDone else { return }
            task.liveIndex = liveTasks.count
            liveTasks.append(task)
        }
    }

    /// Removes a task from the list (O(1): the last one takes its place).
    @usableFromInline
    func unregisterTask(_ task: any LiveLoopTask) {
        taskLock.withLock {
            let index = task.liveIndex
            guard index >= 0 else { return }
            task.liveIndex = -1
            let last = liveTasks.removeLast()
            if index < liveTasks.count {
                liveTasks[index] = last
                last.liveIndex = index
            }
        }
    }

    /// A number for a task's default name: unique in the process, in creation order on each
    /// thread. The loop thread takes them in blocks of 256 from the process-wide counter, so
    /// that loops creating tasks do not all write one cache line.
    @usableFromInline
    func nextTaskNumber() -> Int {
        guard isOnLoopThread else { return Int(ml_fetch_add_relaxed(taskNumberCounter, 1)) + 1 }
        if taskNumbers.next == taskNumbers.end {
            let first = Int(ml_fetch_add_relaxed(taskNumberCounter, Self.taskNumberBlock)) + 1
            taskNumbers = (first, first + Self.taskNumberBlock)
        }
        defer { taskNumbers.next += 1 }
        return taskNumbers.next
    }

    private static var taskNumberBlock: Int { 256 }
}

/// What `allTasks()` returns: any task of a loop, whatever its result type.
public protocol CancellableLoopTask: AnyObject, Sendable {
    var name: String { get }
    var isDone: Bool { get }
    @discardableResult func cancel() -> Bool
    /// Waits until the task is done, whatever its outcome.
    func waitUntilDone() async
}

/// A task in its loop's list of live tasks, which it knows its place in.
@usableFromInline
protocol LiveLoopTask: CancellableLoopTask {
    /// The task's index in its loop's `liveTasks`, -1 when not there. Guarded by `taskLock`.
    var liveIndex: Int { get set }
}

extension LoopTask: LiveLoopTask {
    public func waitUntilDone() async {
        _ = try? await valueIgnoringCancellation()
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
    @inlinable
    final func settle(with outcome: Result<Value, any Error>) {
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

    /// Waits for the future even if the waiting task is cancelled (for cleanup). Like `value`,
    /// the completer resumes the waiter directly: no loop has to deliver anything, so the wait
    /// ends even if the waiter's loop closed meanwhile.
    final func valueIgnoringCancellation() async throws -> Value {
        if isDone { return try result() }
        return try await suspendUntilDone(cancellable: false)
    }
}
