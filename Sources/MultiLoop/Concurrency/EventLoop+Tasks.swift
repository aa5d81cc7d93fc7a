import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

extension EventLoop {
    /// Starts `operation` as a task of this loop. asyncio: `loop.create_task(coro, name=)`.
    ///
    /// Callable from any thread. The task runs on the loop's thread: in the loop's next
    /// iteration, or, with `eager` and when called on the loop's thread, at once until its first
    /// suspension (asyncio 3.12's eager task factory; from another thread `eager` is ignored).
    /// The loop keeps the task until it is done (`allTasks()`). If a task factory is set
    /// (`setTaskFactory`), it makes the task instead.
    ///
    /// A task started on a loop that is closed cannot run there; it runs on Swift's global
    /// executor instead and the exception handler is told (see the executor conformance).
    ///
    /// Inlinable, with the task's body, so that both are specialized for `Value` in the caller.
    @inlinable @discardableResult
    public func createTask<Value: Sendable>(name: String? = nil, eager: Bool = false,
                                            file: StaticString = #fileID, line: UInt = #line,
                                            _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        if hasTaskFactory, let factory = taskFactory {
            return factory.createTask(on: self, name: name, eager: eager, operation)
        }
        return startTask(settling: nil, name: name, eager: eager, file: file, line: line, operation)
    }

    /// Starts a task without going through the loop's task factory: what a factory calls.
    /// asyncio: `asyncio.Task(coro, loop=loop, name=name, eager_start=eager)`. Any thread.
    @inlinable @discardableResult
    public func makeTask<Value: Sendable>(name: String? = nil, eager: Bool = false,
                                          file: StaticString = #fileID, line: UInt = #line,
                                          _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        startTask(settling: nil, name: name, eager: eager, file: file, line: line, operation)
    }

    /// `createTask`, also settling `future`, made by the caller (a loop group hands out the
    /// future before the task exists).
    @inlinable @discardableResult
    func startTask<Value: Sendable>(settling future: Future<Value>?, name: String? = nil, eager: Bool = false,
                                    file: StaticString = #fileID, line: UInt = #line,
                                    _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        let task = LoopTask(loop: self, name: name, number: name == nil ? nextTaskNumber() : 0,
                            createdAt: CallbackLocation(file: file, line: line), alsoSettles: future,
                            operation: operation)
        countTaskCreated()
        task.start(eager: eager && isOnLoopThread)
        return task
    }

    /// Makes a cancel of `future` from outside (by whoever was handed it) cancel `task`: a done
    /// callback on the task's loop.
    ///
    /// - Throws: `EventLoopError.closed` if that loop is closed.
    func cancelTask<Value>(_ task: LoopTask<Value>, whenCancelled future: Future<Value>) throws(EventLoopError) {
        try future.addDoneCallback(on: self) { future in
            if future.isCancelled { task.cancel(message: (future.storedError as? CancelledError)?.message) }
        }
    }

    /// The tasks of this loop that are not done yet. asyncio: `asyncio.all_tasks(loop)`.
    public func allTasks() -> [any CancellableLoopTask] {
        let state = self.state
        return state.taskLock.withLock { state.liveTasks.map { $0 } }
    }

    /// Stores a task's Swift task and adds the task to the list of live tasks, unless it is
    /// already done (eager, or run at once by the loop thread while another thread created it):
    /// the lock orders this with the body's `unregisterTask` and with `cancel`. Returns whether
    /// a cancel came first (then the caller cancels the Swift task).
    @usableFromInline
    func attach<Value>(_ swiftTask: Task<Void, Never>, to task: LoopTask<Value>) -> Bool {
        let state = self.state
        return state.taskLock.withLock {
            task.swiftTask = swiftTask
            if !task.isDone {
                task.liveIndex = state.liveTasks.count
                state.liveTasks.append(task)
            }
            return task.cancelRequests > 0
        }
    }

    /// Removes a task from the list (O(1): the last one takes its place).
    @usableFromInline
    func unregisterTask(_ task: any LiveLoopTask) {
        let state = self.state
        state.taskLock.withLock {
            let index = task.liveIndex
            guard index >= 0 else { return }
            task.liveIndex = -1
            let last = state.liveTasks.removeLast()
            if index < state.liveTasks.count {
                state.liveTasks[index] = last
                last.liveIndex = index
            }
        }
    }

    /// The live task of this loop whose body runs in the Swift task `key`: a scan of the list
    /// under its lock (O(live tasks): `currentTask()` is asked once per timeout scope or task
    /// group, and by user code; keeping a map instead cost every task an insertion and a
    /// removal).
    func liveTask(runningIn key: SwiftTaskKey) -> (any LiveLoopTask)? {
        let state = self.state
        return state.taskLock.withLock { state.liveTasks.first { $0.swiftTaskKey == key } }
    }

    /// A number for a task's default name: unique in the process, in creation order on each
    /// thread. The loop thread takes them in blocks of 256 from the process-wide counter, so
    /// that loops creating tasks do not all write one cache line.
    @usableFromInline
    func nextTaskNumber() -> Int {
        guard isOnLoopThread else { return Int(ml_fetch_add_relaxed(taskNumberCounter, 1)) + 1 }
        let state = self.state
        if state.taskNumbers.next == state.taskNumbers.end {
            let first = Int(ml_fetch_add_relaxed(taskNumberCounter, Self.taskNumberBlock)) + 1
            state.taskNumbers = (first, first + Self.taskNumberBlock)
        }
        defer { state.taskNumbers.next += 1 }
        return state.taskNumbers.next
    }

    private static var taskNumberBlock: Int { 256 }
}

/// The tasks of `loop`, or of the running loop, that are not done yet. asyncio:
/// `asyncio.all_tasks(loop=None)`.
///
/// With a loop, an alias of `loop.allTasks()` (docs/api-guidelines.md, "Aliases"): the method
/// for Swift, asyncio's module function for code ported from asyncio.
///
/// - Throws: `EventLoopError.noRunningLoop` when no loop is given and none runs on this thread.
public func allTasks(loop: EventLoop? = nil) throws(EventLoopError) -> [any CancellableLoopTask] {
    if let loop { return loop.allTasks() }
    return try getRunningLoop().allTasks()
}

/// Any task of a loop, whatever its result type: what `allTasks()` and `currentTask()` return.
public protocol CancellableLoopTask: AnyObject, Sendable {
    /// The loop the task runs on.
    var loop: EventLoop { get }
    /// The task's name (asyncio: `get_name()`).
    var name: String { get }
    /// Renames the task (asyncio: `set_name`).
    func setName(_ name: String)
    var isDone: Bool { get }
    var isCancelled: Bool { get }
    /// Requests cancellation (asyncio: `cancel(msg)`); see `LoopTask.cancel(message:)`.
    @discardableResult func cancel(message: String?) -> Bool
    /// The message of the last `cancel(message:)`, or nil.
    var cancelMessage: String? { get }
    /// asyncio: `cancelling()`.
    func cancelling() -> Int
    /// asyncio: `uncancel()`.
    @discardableResult func uncancel() -> Int
    /// The error the task ended with, nil for a value (asyncio: `exception()`); marks it
    /// retrieved. Throws `InvalidStateError.resultNotReady` while pending, `CancelledError` if
    /// cancelled.
    func exception() throws -> (any Error)?
    /// Waits until the task is done, whatever its outcome, without retrieving its error.
    func waitUntilDone() async
}

extension CancellableLoopTask {
    /// Requests cancellation without a message. asyncio: `cancel()`.
    @discardableResult
    public func cancel() -> Bool { cancel(message: nil) }
}

/// A task in its loop's list of live tasks, which it knows its place in.
@usableFromInline
protocol LiveLoopTask: CancellableLoopTask {
    /// The task's index in its loop's `liveTasks`, -1 when not there. Guarded by `taskLock`.
    var liveIndex: Int { get set }
    /// The address of the Swift task running the body, 0 before `start` stored it. Guarded by
    /// `taskLock`.
    var swiftTaskKey: SwiftTaskKey { get }
}

extension LoopTask: LiveLoopTask {
    @usableFromInline var swiftTaskKey: SwiftTaskKey { swiftTask.map { unsafeBitCast($0, to: UInt.self) } ?? 0 }

    public func waitUntilDone() async {
        await waitIgnoringCancellation()
    }
}

/// The source of task numbers (relaxed fetch-and-add: only uniqueness matters).
private nonisolated(unsafe) let taskNumberCounter: UnsafeMutablePointer<ml_word_t> = {
    let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 1)
    word.initialize(to: 0)
    return word
}()
