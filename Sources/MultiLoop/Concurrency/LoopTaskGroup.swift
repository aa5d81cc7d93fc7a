import _MultiLoopEventLoop
import _MultiLoopSystem

/// Runs `body` with a new task group of the running loop, and returns once the body and every
/// task started in the group are done. asyncio: `async with asyncio.TaskGroup() as tg: ...`.
///
/// ```swift
/// let (user, posts) = try await withLoopTaskGroup { group in
///     let user = try group.createTask(name: "user") { try await fetchUser(id) }
///     let posts = try group.createTask(name: "posts") { try await fetchPosts(id) }
///     return (user, posts)
/// }
/// // both tasks are done here, and neither failed
/// print(try user.result(), try posts.result())
/// ```
///
/// - Children: `group.createTask` starts a `LoopTask` of the running loop (named, listed by
///   `loop.allTasks()`, awaitable with `try await task.value`), like `loop.createTask`. A child
///   may start more children, also after the body has returned, as long as the group is neither
///   finished nor aborting.
/// - The exit waits for the body and every child, however they end.
/// - The first error that is not a cancellation, from a child or from the body, aborts the
///   group: every child that is not done is cancelled, and so is the body (unless it has ended);
///   from then on `createTask` throws `TaskGroupStateError.shuttingDown`. A child that is
///   cancelled (by anyone, or because it threw `CancellationError`) is not an error, and aborts
///   nothing.
/// - Cancelling the task that runs `withLoopTaskGroup` cancels the body and every child too.
///
/// **The body runs in a child task of the caller** (a structured one: it inherits the caller's
/// priority and task-locals, and runs on the loop, as its executor preference). It starts at
/// once, on the caller's thread, and runs until its first suspension, as the body of asyncio's
/// `async with` does. The reason: to stop the body when a child fails, asyncio cancels the
/// parent task and withdraws that cancellation at the exit (`uncancel()`); Swift's cancellation
/// cannot be withdrawn, so cancelling the caller would leave it cancelled after the group. The
/// group cancels the body's own task instead: inside the body `Task.isCancelled` turns true
/// after a failure, and the caller is never cancelled by the group. For the same reason the
/// body is `@Sendable` (what it captures must be `Sendable`; no mutable locals) and its result
/// is `Sendable`. It is not escaping: it is done when `withLoopTaskGroup` returns.
///
/// What the group returns or throws, once everything is done:
/// 1. `TaskGroupError` if any child or the body failed with an error that is not a
///    cancellation: all those errors, in the order the group saw them. Errors take precedence
///    over a cancellation, as in asyncio.
/// 2. Otherwise, if the caller's task was cancelled while the group ran: `CancellationError`
///    (the body's own cancellation error if it threw one). The body's value, if it returned one
///    despite the cancel, is dropped.
/// 3. Otherwise what the body returned, or the cancellation error it threw of its own accord
///    (which aborted the children, as asyncio's `CancelledError` in the body does).
///
/// Not guaranteed: cancellation is Swift's, cooperative: a child or a body that ignores it keeps
/// the group waiting, as in asyncio. The abort happens at one point, in a loop iteration after
/// the one in which the failing child finished (asyncio: its done callback, scheduled with
/// `call_soon`): until then the others run on, and a child started meanwhile is started, then
/// cancelled with the rest. The order in which children are cancelled is unspecified.
///
/// - Throws: `TaskGroupError`; `CancellationError`; the body's own cancellation error;
///   `EventLoopError.noRunningLoop` when no loop runs on the calling thread (the body does not
///   run).
@discardableResult
public func withLoopTaskGroup<GroupResult: Sendable>(
    _ body: @Sendable (LoopTaskGroup) async throws -> GroupResult
) async throws -> GroupResult {
    let group = LoopTaskGroup(loop: try getRunningLoop())
    return try await group.run(body)
}

/// The group `withLoopTaskGroup` hands its body: starts the group's children. asyncio: the
/// `TaskGroup` object that `async with asyncio.TaskGroup() as tg` binds.
///
/// Thread-safe: `createTask` may be called from any thread, by the body, by a child or by
/// anyone the group was handed to, until the group finishes. Every child is a task of the
/// group's `loop`.
public final class LoopTaskGroup: @unchecked Sendable, CustomStringConvertible {
    /// The loop whose tasks the children are: the loop running where the group was opened.
    public let loop: EventLoop

    // Who does what (the group's one concurrency invariant): every field of `Membership` is
    // read and written under `membership`'s mutex, by whoever holds it, briefly, and nothing
    // else is done under it (no task is created, cancelled or resumed with the lock held). Only
    // the supervisor, the task that called `withLoopTaskGroup`, cancels anything: a child's
    // completion (its `GroupChildNode`, on the completing thread), the body's end and a cancel
    // of the caller record what happened and wake the supervisor; it then cancels the children
    // and the body from its own task, on the loop. So no cancellation handler runs inside
    // another task's completion.
    private let membership = LockedValue(Membership())

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Starts `operation` as a task of the group: a task of `loop` (see `EventLoop.createTask`
    /// for `name` and `eager`), which the group waits for and whose error, if it fails, aborts
    /// the group. asyncio: `tg.create_task(coro, name=)`.
    ///
    /// - Returns: the task: await it (`try await task.value`), cancel it (a cancelled child is
    ///   not an error), or read its result once the group is done.
    /// - Throws: `TaskGroupStateError.finished` once the body and every child have ended;
    ///   `.shuttingDown` while the group aborts. Then `operation` never runs. A child that the
    ///   abort cancelled while it was running (not suspended) learns of it only at its next
    ///   cancellation-aware suspension (Swift's cooperative cancellation), so its `createTask`
    ///   may throw `.shuttingDown` first, which would then be its error: check
    ///   `Task.isCancelled` (or `try Task.checkCancellation()`) before starting more work.
    @discardableResult
    public func createTask<Value: Sendable>(name: String? = nil, eager: Bool = false,
                                            _ operation: @escaping @Sendable () async throws -> Value) throws(TaskGroupStateError) -> LoopTask<Value> {
        // Counted as live before it exists, so that the group cannot finish meanwhile.
        let refusal = membership.withLock { group -> TaskGroupStateError? in
            if group.isFinished { return .finished }
            if group.aborting { return .shuttingDown }
            group.live += 1
            return nil
        }
        if let refusal { throw refusal }
        // Made outside the lock: an eager task runs here, and may itself call `createTask`.
        let task = loop.createTask(name: name, eager: eager, operation)
        let abortedMeanwhile = membership.withLock { group -> Bool in
            group.children[ObjectIdentifier(task)] = task
            return group.aborting
        }
        // An abort step taken while the task was being made did not find it in `children`.
        // (One that found it cancels it too: twice is harmless.)
        if abortedMeanwhile { task.cancel() }
        // Registered after the task is in `children`, so that its completion finds it there.
        let node = GroupChildNode<Value>(group: self)
        if !task.register(node) { node.futureDidComplete(task) }
        return task
    }

    public var description: String {
        membership.withLock { group in
            let state = group.isFinished ? "finished" : group.abortRequested ? "aborting" : "running"
            return "<LoopTaskGroup \(state) tasks=\(group.live) errors=\(group.errors.count)>"
        }
    }

    // MARK: The supervisor

    /// Runs the body in a child task and supervises the group until everything is done, then
    /// decides the outcome. Runs in the caller's task.
    func run<GroupResult: Sendable>(_ body: @Sendable (LoopTaskGroup) async throws -> GroupResult) async throws -> GroupResult {
        // The body's child task runs on behalf of the caller's task: `currentTask()` there.
        let owner = currentTask()
        let bodyOutcome = await withoutActuallyEscaping(body) { body in
            await withTaskGroup(of: Result<GroupResult, any Error>.self) { bodyTask in
                await withTaskCancellationHandler {
                    bodyTask.addImmediateTask(executorPreference: loop) {
                        let outcome: Result<GroupResult, any Error>
                        do {
                            outcome = .success(try await CurrentLoopTask.binding.withValue(owner) { try await body(self) })
                        } catch {
                            outcome = .failure(error)
                        }
                        self.bodyDidEnd(failingWith: outcome.failureValue)
                        return outcome
                    }
                    while true {
                        switch await nextStep() {
                        case .abort(let children):
                            for child in children { child.cancel() }
                            bodyTask.cancelAll()
                        case .finished:
                            return
                        }
                    }
                } onCancel: {
                    self.callerWasCancelled()
                }
                return await bodyTask.next()!  // the one child, done: its end was a step's condition
            }
        }
        let (errors, callerCancelled) = membership.withLock { group in
            defer { group.errors = [] }  // the group keeps nothing once it is done
            return (group.errors, group.callerCancelled)
        }
        if !errors.isEmpty { throw TaskGroupError(errors: errors) }
        if callerCancelled {
            if case .failure(let error) = bodyOutcome, isCancellation(error) { throw error }
            throw CancellationError()
        }
        return try bodyOutcome.get()
    }

    /// Waits until the supervisor has something to do.
    private func nextStep() async -> SupervisorStep {
        while true {
            if let step = membership.withLock({ $0.takeStep() }) { return step }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let hasWork = membership.withLock { group -> Bool in
                    if group.supervisorHasWork { return true }
                    group.supervisor = continuation
                    return false
                }
                if hasWork { continuation.resume() }
            }
        }
    }

    // MARK: What happens to the group

    /// A child finished (on its completing thread); `error` is nil for a value or a cancel.
    fileprivate func childDidFinish(_ child: ObjectIdentifier, failingWith error: (any Error)?) {
        membership.withLock { group in
            group.children[child] = nil
            group.live -= 1
            if let error {
                group.errors.append(error)
                group.abortRequested = true
            }
            return group.supervisorToWake()
        }?.resume()
    }

    /// The body ended, in its own task.
    private func bodyDidEnd(failingWith error: (any Error)?) {
        membership.withLock { group in
            group.bodyEnded = true
            if let error {
                // A cancellation the group caused changes nothing; one the body threw of its own
                // accord aborts the children, and is what the group throws at the end.
                if !isCancellation(error) { group.errors.append(error) }
                group.abortRequested = true
            }
            return group.supervisorToWake()
        }?.resume()
    }

    /// The caller's task was cancelled (on the cancelling thread). Ignored once the group is
    /// finished: the caller sees its cancel at its next suspension.
    private func callerWasCancelled() {
        membership.withLock { group -> CheckedContinuation<Void, Never>? in
            guard !group.isFinished else { return nil }
            group.callerCancelled = true
            group.abortRequested = true
            return group.supervisorToWake()
        }?.resume()
    }
}

/// The group's state. Guarded by `LoopTaskGroup.membership`.
private struct Membership {
    /// Children not finished, counting those being made in `createTask`.
    var live = 0
    /// The children made and not finished, to cancel at an abort.
    var children: [ObjectIdentifier: any CancellableLoopTask] = [:]
    /// Every error that is not a cancellation, in the order they came.
    var errors: [any Error] = []
    var bodyEnded = false
    /// Set by the first failure, or by a cancel of the caller (or the body's own cancellation
    /// error): the supervisor is to abort the group.
    var abortRequested = false
    /// Set by the supervisor's abort step, with the snapshot of `children` it cancels: no new
    /// child from then on. Set at one point with the snapshot, so that every child is either in
    /// it or made after it, and then refused or (if it was being made) cancelled by `createTask`.
    var aborting = false
    var callerCancelled = false
    /// The supervisor, while it waits for a step.
    var supervisor: CheckedContinuation<Void, Never>?

    var isFinished: Bool { bodyEnded && live == 0 }

    var supervisorHasWork: Bool { (abortRequested && !aborting) || isFinished }

    /// The supervisor's continuation, taken, if it waits and now has work (to resume once the
    /// lock is released).
    mutating func supervisorToWake() -> CheckedContinuation<Void, Never>? {
        supervisorHasWork ? supervisor.take() : nil
    }

    mutating func takeStep() -> SupervisorStep? {
        if abortRequested && !aborting {
            aborting = true
            return .abort(Array(children.values))
        }
        return isFinished ? .finished : nil
    }
}

/// What the supervisor has to do next.
private enum SupervisorStep {
    /// Cancel these children and the body: the group aborts.
    case abort([any CancellableLoopTask])
    /// The body and every child are done.
    case finished
}

/// Tells the group that one child finished: a node in the child's callback list, called inline
/// by the completing thread (it records and wakes; it runs no user code).
private final class GroupChildNode<Value: Sendable>: FutureNode, @unchecked Sendable {
    private let group: LoopTaskGroup

    init(group: LoopTaskGroup) {
        self.group = group
        super.init(kind: .signal, file: #fileID, line: #line)
    }

    override func futureDidComplete(_ future: AnyObject) {
        let child = unsafeDowncast(future, to: Future<Value>.self)
        let error = child.isCancelled ? nil : (try? child.exception()) ?? nil
        group.childDidFinish(ObjectIdentifier(child), failingWith: error)
    }
}

/// Whether `error` is a cancellation (Swift's, or a cancelled future's).
private func isCancellation(_ error: any Error) -> Bool {
    error is CancellationError || error is CancelledError
}
