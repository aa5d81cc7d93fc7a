import _MultiLoopInbox
import _MultiLoopSystem

/// The loop as a Swift executor: Swift `async` code runs on the loop's thread as its tasks.
///
/// - `TaskExecutor`: `Task(executorPreference: loop) { ... }` (or `loop.createTask`) runs the
///   task's nonisolated code on the loop's thread; child tasks (`async let`, task groups)
///   inherit the preference. A plain `Task {}` started from a loop task does not.
/// - `SerialExecutor`: an actor whose `unownedExecutor` is `loop.asUnownedSerialExecutor()`
///   runs on the loop's thread, one job at a time (the loop is one thread), and
///   `assumeIsolated` works in the loop's callbacks (`checkIsolated` / `isIsolatingCurrentContext`
///   compare the calling thread with the loop's).
///
/// A job enqueued from the loop thread is a plain append to the ready queue (no atomic
/// operation); from any other thread it travels through that thread's lane, with no allocation
/// (the job is 8 bytes in a lane slot). Jobs run in the iteration after they are enqueued, in
/// order with the loop's other callbacks.
///
/// A job enqueued on a closed loop cannot run there. It is not dropped (its task would hang
/// forever): it runs on Swift's global concurrent executor instead, and the loop's exception
/// handler is told (`EventLoopError.closed`). Code after that `await` then runs off the loop.
extension EventLoop: TaskExecutor, SerialExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        if isOnLoopThread {
            // Also while closing: `close()` resumes tasks left in `sleep(0)` and runs them.
            if resumingInline && inlineJob == nil {
                inlineJob = unowned
                return
            }
            if acceptingLocal {
                ready.append(.job(unowned))
                return
            }
        }
        do {
            try submit(.job(unowned))
        } catch {
            callExceptionHandler(EventLoopErrorContext(
                message: "a job was enqueued on a closed event loop; it runs on the global executor instead",
                error: error))
            // Enqueued, never run inline: the caller may be holding a lock while it resumes.
            globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
        }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// True on the loop's thread (while it runs the loop, or closes it).
    public func isIsolatingCurrentContext() -> Bool? {
        isOnLoopThread
    }

    /// Traps unless called on the loop's thread: what `assumeIsolated` relies on.
    public func checkIsolated() {
        precondition(isOnLoopThread, "not on the thread of this event loop")
    }

    /// Queues the resumption of `continuation` at the back of the ready queue (`sleep(0)`): the
    /// loop resumes it one iteration later and runs the job that enqueues at once
    /// (`resumeInline`). A local append, no allocation. Loop thread only, while `acceptingLocal`.
    package func resumeLater(_ continuation: UnsafeContinuation<Void, Never>) {
        ready.append(.resume(continuation))
    }

    /// Resumes a loop task suspended in `sleep(0)` and runs it right away: the job the
    /// resumption enqueues (the task itself) is run here, not an iteration later. Loop thread only.
    func resumeInline(_ continuation: UnsafeContinuation<Void, Never>) {
        resumingInline = true
        continuation.resume()
        resumingInline = false
        if let job = inlineJob.take() { runJob(job) }
    }

    /// Runs `body`, and then at once the first job that `body` enqueues on this loop (a task it
    /// resumed), instead of an iteration later: what a readiness callback does when it wakes the
    /// task reading its socket, so that one message costs one iteration, not two. Loop thread
    /// only, from a callback the iteration runs (not nested in another such call: the outer
    /// one would take the job).
    package func runResumedTaskInline<T>(_ body: () throws -> T) rethrows -> T {
        guard isOnLoopThread, !resumingInline else { return try body() }
        resumingInline = true
        defer {
            resumingInline = false
            if let job = inlineJob.take() { runJob(job) }
        }
        return try body()
    }

    /// Runs a job on the loop thread (called by the iteration and by `close()`).
    ///
    /// Never inlined: `asUnownedTaskExecutor()` needs the loop's class metadata, the first word
    /// of the object, on the cache line of its reference count. Inlined into `runOnce`, that load
    /// was hoisted to the top of every iteration, so a producer that retains the loop per call
    /// (`loops[i].execute { }`) and the loop thread fought over that line once per iteration:
    /// fan-in from one such producer ran at a third of the speed of one holding the loop in a
    /// local. Jobs pay one call instead.
    @inline(never)
    func runJob(_ job: UnownedJob) {
        job.runSynchronously(on: asUnownedTaskExecutor())
    }
}
