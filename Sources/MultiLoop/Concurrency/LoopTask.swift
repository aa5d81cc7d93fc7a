import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// A Swift `async` function running on an event loop as one of its tasks.
/// asyncio equivalent: `asyncio.Task` (create one with `loop.createTask`; inside a loop's task,
/// `getRunningLoop().createTask` is asyncio's `asyncio.create_task`).
///
/// Like asyncio's, a task is a future: `isDone`, `result()`, `exception()`, `isCancelled`,
/// `addDoneCallback`, and `try await task.value`. It runs on its loop's thread (the loop is its
/// `TaskExecutor`), and so do the child tasks it creates with `async let` or a task group.
///
/// ## Cancellation
/// `cancel(message:)` (also through the task's future: `task.future.cancel()` is the same call,
/// the task being its own future) requests cancellation of the body, with Swift's cooperative
/// cancellation: the body sees it at its next cancellation-aware suspension (`sleep`, awaiting a
/// future or a task, `Lock.acquire`...), which throws `CancellationError`. The task is done, and
/// `isCancelled`, only once the body has ended: with `CancellationError` (or `CancelledError`)
/// it is cancelled, and its `result()` throws `CancelledError` carrying the last message given to
/// `cancel(message:)`; a body that catches the error and returns a value or throws another error
/// ends that way instead, as in asyncio. A task cancelled before its body started never runs
/// the body (asyncio: the coroutine never starts).
///
/// `cancelling()` counts the cancel requests not withdrawn by `uncancel()` (asyncio 3.11). Unlike
/// asyncio's, a withdrawn request does not make the task uncancelled: Swift's cancellation flag
/// cannot be cleared, so every later cancellation-aware wait of the body still throws.
///
/// ## Errors nobody reads
/// A task that ends with an error that is never retrieved (no `result()`, `exception()`,
/// `await`, `gather`...) is reported to its loop's exception handler, with its name and where it
/// was created: "Task exception was never retrieved" (see `Future+Retrieval.swift`).
public final class LoopTask<Value: Sendable>: Future<Value>, @unchecked Sendable {
    // One object per task: the future (the superclass), the task's bookkeeping (name, the Swift
    // task, its place in the loop's task list, its cancel requests) and, while the task runs, its
    // operation.
    // - `operation` is written by `init` and taken by the body, on the loop thread.
    // - `swiftTask`, `givenName`, `cancelRequests`, `cancelMessage` and `liveIndex` are guarded
    //   by the loop's `taskLock` (`swiftTask` is written once, by `start`, under it: the body may
    //   run, and cancel itself, before `start` has stored it; see `cancel(message:)`).
    @usableFromInline @exclusivity(unchecked) var operation: (@Sendable () async throws -> Value)?
    /// The name given to `createTask` or `setName`, or nil: then `name` is "Task-<number>"
    /// (formatted only when asked for).
    @usableFromInline @exclusivity(unchecked) var givenName: String?
    @usableFromInline let number: Int
    /// Where `createTask` was called (for reports).
    @usableFromInline let createdAt: CallbackLocation
    /// A future made before the task (a loop group's `submitTask`), settled with the same
    /// outcome; it, not the task, answers for an error nobody retrieves.
    @usableFromInline let alsoSettles: Future<Value>?
    @usableFromInline @exclusivity(unchecked) var swiftTask: Task<Void, Never>?
    /// The task's index in its loop's `liveTasks`, -1 when not there.
    @usableFromInline @exclusivity(unchecked) var liveIndex = -1
    /// asyncio's `_num_cancels_requested`: `cancel` adds one, `uncancel` takes one back.
    @exclusivity(unchecked) var cancelRequests = 0
    /// The message of the last `cancel(message:)`, for the `CancelledError` the task ends with.
    @exclusivity(unchecked) var requestedCancelMessage: String?

    @inlinable
    init(loop: EventLoop, name: String?, number: Int, createdAt: CallbackLocation, alsoSettles: Future<Value>?,
         operation: @escaping @Sendable () async throws -> Value) {
        self.operation = operation
        self.givenName = name
        self.number = number
        self.createdAt = createdAt
        self.alsoSettles = alsoSettles
        super.init(loop: loop, isTask: true)
    }

    deinit {
        // Here, not in `Future`'s deinit: by then this object's own properties (the name) are
        // gone. (`name` takes the task lock: a task is never released under it, see
        // `unregisterTask`, where the caller still holds the task.)
        if outcomeKind == .error { reportIfNeverRetrieved(atDeallocation: true) }
    }

    /// The future that holds the task's outcome: the task itself (asyncio's `Task` is a
    /// `Future`). An alias of the task (docs/api-guidelines.md, "Aliases"), for readers who look
    /// for a task's future, as SwiftNIO's `futureResult`.
    public var future: Future<Value> { self }

    /// The task's name (asyncio: `get_name()`): the one given to `createTask` or `setName`,
    /// else "Task-N". Any thread.
    public var name: String {
        let given = loop.state.taskLock.withLock { givenName }
        return given ?? "Task-\(number)"
    }

    /// Renames the task. asyncio: `set_name(value)`. Any thread.
    public func setName(_ name: String) {
        loop.state.taskLock.withLock { givenName = name }
    }

    /// Requests cancellation of the task's body; returns false if the task is already done.
    /// asyncio: `task.cancel(msg)`. Any thread, any number of times (each call counts: see
    /// `cancelling()`).
    ///
    /// The body sees `CancellationError` at its next cancellation-aware suspension; the task is
    /// done only once the body has ended (see the type's documentation). `message` (the last
    /// one given wins, as in asyncio) is carried by the `CancelledError` that `result()` and
    /// awaiting the task throw if the body ends cancelled, and is what `cancelMessage` and
    /// `CancellationError.message` answer inside the body.
    ///
    /// Calling it from the task's own body is fine (asyncio allows it too).
    @discardableResult
    public override func cancel(message: String? = nil) -> Bool {
        if isDone { return false }
        let target = loop.state.taskLock.withLock { () -> Task<Void, Never>? in
            cancelRequests += 1
            requestedCancelMessage = message
            return swiftTask
        }
        if let target {
            target.cancel()
        } else if currentTask() === self {
            // The body cancels itself before `start` stored its Swift task (an eager task's
            // first steps): cancel the task we are running in; `start` cancels it too.
            withUnsafeCurrentTask { $0?.cancel() }
        }
        return true
    }

    /// The number of cancel requests not withdrawn by `uncancel()`. asyncio: `cancelling()`.
    public func cancelling() -> Int {
        loop.state.taskLock.withLock { cancelRequests }
    }

    /// Withdraws one cancel request and returns how many remain. asyncio: `uncancel()`.
    ///
    /// Used by a scope that cancelled its task for its own purpose (a timeout) to tell, at its
    /// exit, whether anyone else asked for cancellation too. Not guaranteed (unlike asyncio):
    /// the body is still cancelled for Swift, whose cancellation cannot be withdrawn.
    @discardableResult
    public func uncancel() -> Int {
        loop.state.taskLock.withLock {
            if cancelRequests > 0 { cancelRequests -= 1 }
            return cancelRequests
        }
    }

    /// The message of the last `cancel(message:)`, or nil.
    public var cancelMessage: String? {
        loop.state.taskLock.withLock { requestedCancelMessage }
    }

    /// Whether cancellation was requested (the task may still be running).
    public var isCancellationRequested: Bool {
        loop.state.taskLock.withLock { cancelRequests > 0 || (swiftTask?.isCancelled ?? false) }
    }

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

    override func neverRetrievedContext(_ error: any Error) -> EventLoopErrorContext {
        EventLoopErrorContext(message: "Task exception was never retrieved", error: error,
                              location: createdAt.description, taskName: name)
    }

    /// The task's body: runs the operation (unless the task was cancelled before it started),
    /// settles the task (and `alsoSettles`), and leaves the loop's task list. The operation is
    /// dropped before the task settles, so its captures are released as soon as it returns.
    @inlinable
    final func run() async {
        guard let operation = operation.take() else { return }
        let outcome: Result<Value, any Error>
        if Task.isCancelled {
            outcome = .failure(CancellationError())
        } else {
            do {
                outcome = .success(try await operation())
            } catch {
                outcome = .failure(error)
            }
        }
        finish(with: outcome)
    }

    /// Settles the task with the body's outcome; out of line, as everything after the body.
    @usableFromInline
    final func finish(with outcome: Result<Value, any Error>) {
        if alsoSettles != nil { markRetrieved() }
        settle(with: outcome, cancelMessage: { self.cancelMessage })
        alsoSettles?.settle(with: outcome, cancelMessage: { self.cancelMessage })
        loop.unregisterTask(self)
        loop.countTaskFinished()
    }

    /// Starts the Swift task that runs the body, on `loop` (its executor preference): inline
    /// until its first suspension with `eager` (the caller is on the loop's thread). Then, under
    /// the task lock, stores it, enters the loop's task list (unless already done) and passes
    /// on a cancel that came first.
    @inlinable
    final func start(eager: Bool) {
        // The closures capture the task alone: the context is the task object itself. Written
        // inline in each call, not shared through a variable: a closure value converted to the
        // initializer's parameter type costs a thunk and its context, an allocation per task.
        let task: Task<Void, Never>
        if eager {
            // Until `attach` has stored the Swift task, `currentTask()` knows the body's first
            // steps by this mark (loop-thread state; restored for a nested eager start).
            let state = loop.state
            let outer = state.eagerlyStarting
            state.eagerlyStarting = self
            task = Task.immediate(executorPreference: loop) { [self] in await run() }
            state.eagerlyStarting = outer
        } else {
            task = Task(executorPreference: loop) { [self] in await run() }
        }
        if loop.attach(task, to: self) { task.cancel() }
    }
}

extension Future {
    /// Completes the future with a task's outcome: a cancellation error cancels it, with the
    /// error's message, or (for Swift's `CancellationError`, which has none) `cancelMessage()`.
    @inlinable
    final func settle(with outcome: Result<Value, any Error>, cancelMessage: () -> String? = { nil }) {
        switch outcome {
        case .success(let value):
            _ = try? setResult(value)
        case .failure(let error as CancelledError):
            _ = completeCancelled(message: error.message)
        case .failure(is CancellationError):
            _ = completeCancelled(message: cancelMessage())
        case .failure(let error):
            _ = try? setException(error)
        }
    }

    /// Waits for the future even if the waiting task is cancelled (for cleanup), without
    /// retrieving its error. Like `value`, the completer resumes the waiter directly: no loop
    /// has to deliver anything, so the wait ends even if the waiter's loop closed meanwhile.
    final func waitIgnoringCancellation() async {
        if isDone { return }
        _ = try? await suspendUntilDone(cancellable: false, retrieving: false)
    }
}
