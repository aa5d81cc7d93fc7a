import _MultiLoopEventLoop
import _MultiLoopSystem

/// A loop's default executor: the thread pool `runInExecutor` uses when given none.
/// asyncio: `BaseEventLoop._default_executor` with `_executor_shutdown_called`.
///
/// Guarded by the loop's `lifecycleLock` (stored in `LoopState.defaultExecutor`), so that a
/// lazy creation and `close()` cannot cross: a call that finds the loop open and no executor
/// creates one that `close()` will shut down; a call after `close()` began finds it closed.
enum DefaultExecutorState {
    /// None yet: the first `runInExecutor` with no pool creates one.
    case none
    /// In use: created by the loop, or set with `setDefaultExecutor`.
    case ready(ThreadPool)
    /// `shutdownDefaultExecutor()` or `close()` was called: default-executor work is refused.
    case shutDown(DefaultExecutorJoin)
}

/// Where the join of a shut-down default executor stands.
enum DefaultExecutorJoin {
    /// Nothing to join: no executor had been created, or `close()` let it go without waiting.
    case nothing
    /// A thread of its own joins the executor's workers; each waiter is completed with `true`
    /// once they are joined (a timed-out waiter was completed with `false` by its timer).
    case joining([Future<Bool>])
    /// The workers were joined.
    case joined
}

/// What `EventLoop.shutdownDefaultExecutor` found and did.
public enum DefaultExecutorShutdown: Sendable, Equatable, CustomStringConvertible {
    /// There was nothing to wait for: no default executor had been created (asyncio returns at
    /// once too), or `close()` had already let it go without waiting.
    case nothingToJoin
    /// Every job the default executor had accepted finished, and its threads were joined (by
    /// this call or an earlier one).
    case joined
    /// The timeout passed first. Reported to the loop's exception handler (asyncio warns
    /// "The executor did not finishing joining its threads within N seconds"); the executor's
    /// jobs still run, and a thread of the loop's still joins its workers after them (a later
    /// `shutdownDefaultExecutor()` waits for that join).
    case timedOut

    public var description: String {
        switch self {
        case .nothingToJoin: return "nothing to join"
        case .joined: return "joined"
        case .timedOut: return "timed out"
        }
    }
}

extension EventLoop {
    /// Runs a blocking `function` on a worker thread and returns its result when it is done,
    /// without blocking the loop. asyncio: `await loop.run_in_executor(executor, func)`.
    ///
    /// `pool` nil uses the loop's default executor, created on first use (asyncio creates a
    /// `ThreadPoolExecutor` the same way): a `ThreadPool` of at most min(32, usable cores + 4)
    /// threads named "ml-ex<loop id>-<i>", started as jobs need them, so a loop that never
    /// calls this has no thread and one that runs one function at a time has one.
    /// `setDefaultExecutor` replaces it, `shutdownDefaultExecutor` waits for it, `close()` lets
    /// it go. Pass `ThreadPool.shared` to share threads among loops.
    ///
    /// The awaiting task resumes on its own executor (a task of this loop, on this loop) once
    /// `function` returned or threw.
    ///
    /// ## Cancellation
    /// Cancelling the awaiting task ends the wait at once with `CancellationError`, whatever
    /// `function` is doing (asyncio raises `CancelledError` at once too). If no worker has taken
    /// the job yet, it is withdrawn: `function` never runs. A `function` already running is not
    /// interrupted (a thread cannot be); it runs to its end on its worker, and what it returns
    /// or throws is dropped: nothing is delivered anywhere (no callback, no report). A task
    /// cancelled before the call throws `CancellationError` without queuing anything.
    ///
    /// ## Not guaranteed
    /// No order between the functions of different calls beyond the pool's FIFO queue: with
    /// several workers, a function queued later may finish first.
    ///
    /// - Throws: what `function` throws; `CancellationError`; `EventLoopError.closed` on a
    ///   closed loop (nothing is queued; asyncio: "Event loop is closed");
    ///   `EventLoopError.defaultExecutorShutDown` with no pool after `shutdownDefaultExecutor()`
    ///   (asyncio: "Executor shutdown has been called"), even if no default executor had been
    ///   created; `ThreadPoolError.shutDown` from a `pool` that was shut down.
    public func runInExecutor<Value: Sendable>(_ pool: ThreadPool? = nil,
                                               _ function: @escaping @Sendable () throws -> Value) async throws -> Value {
        let target = try executor(for: pool)
        // Two parties race to resume the awaiting task: the worker that ran `function`, and the
        // cancellation handler. The resumer gives the continuation to exactly one of them; the
        // other drops what it has. The job is the resumer's token: a cancel that wins withdraws
        // it (a no-op once a worker has taken it).
        let resumer = OneShotResumer<Value, ThreadPoolJob>()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Value, any Error>) in
                guard resumer.install(continuation) else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                let job: ThreadPoolJob
                do {
                    job = try target.enqueue {
                        let outcome = Result { try function() }
                        resumer.takeContinuation()?.resume(with: outcome)
                    }
                } catch {
                    // The default executor was shut down (or the loop closed) since we got it (one
                    // that was replaced is not shut down while a call still holds it).
                    let refusal: any Error = pool == nil ? defaultExecutorRefusal() : error
                    resumer.takeContinuation()?.resume(throwing: refusal)
                    return
                }
                // Cancelled between the install and here: the canceller found no job to withdraw.
                if !resumer.keep(job) { target.withdraw(job) }
            }
        } onCancel: {
            let (continuation, job) = resumer.cancel()
            // Withdrawn before the task resumes, so that it never sees its job still queued.
            if let job { target.withdraw(job) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Makes `pool` the loop's default executor (what `runInExecutor` uses when given no pool).
    /// Any thread. asyncio: `loop.set_default_executor(executor)`.
    ///
    /// The loop does not own a pool you set, but treats it as asyncio treats its default
    /// executor: `shutdownDefaultExecutor()` shuts it down and joins it, and `close()` shuts it
    /// down without waiting (except `ThreadPool.shared`, which cannot be shut down). A default
    /// executor the loop created itself and that `pool` replaces is let go, as asyncio drops it:
    /// calls already using it go on, and once the last of them has returned it shuts down
    /// without waiting (what it had queued still runs, then its threads end). One you set that
    /// `pool` replaces is left as it is.
    ///
    /// - Throws: `EventLoopError.closed` on a closed loop, and
    ///   `EventLoopError.defaultExecutorShutDown` after `shutdownDefaultExecutor()`: the pool is
    ///   not set (asyncio sets it, and then refuses to use it).
    public func setDefaultExecutor(_ pool: ThreadPool) throws(EventLoopError) {
        // The replaced pool is returned, to be released after the lock: the last reference to a
        // loop's own executor shuts it down (its deinit).
        let state = self.state  // not under the lock: made under `lifecycleLock`
        _ = try lifecycleLock.withLock { () throws(EventLoopError) -> ThreadPool? in
            guard lifecycle != .closing && lifecycle != .closed else { throw .closed }
            switch state.defaultExecutor {
            case .shutDown:
                throw .defaultExecutorShutDown
            case .none:
                state.defaultExecutor = .ready(pool)
                return nil
            case .ready(let current):
                state.defaultExecutor = .ready(pool)
                return current
            }
        }
    }

    /// Shuts the default executor down and waits, without blocking the loop, until every job it
    /// accepted (running or queued) has finished and its threads are joined. asyncio 3.12:
    /// `await loop.shutdown_default_executor(timeout)`, which `asyncio.run` awaits before it
    /// closes its loop.
    ///
    /// From then on `runInExecutor` with no pool throws `EventLoopError.defaultExecutorShutDown`
    /// (even if no default executor had been created); an explicit pool still works. With no
    /// default executor it returns `.nothingToJoin` at once. The join runs on a thread of its
    /// own, which completes what the caller awaits, so the loop keeps running (and can deliver
    /// the jobs' results to their tasks) meanwhile. Calling it again, or from several tasks at
    /// once, is fine: every call waits for the same join (`.joined` once it is done).
    ///
    /// With a `timeout` (seconds) that passes first, it reports that to the loop's exception
    /// handler (an `EventLoopErrorContext` whose error is `TimeoutError(seconds: timeout)`:
    /// asyncio's `RuntimeWarning`) and returns `.timedOut`; the join goes on in the background.
    /// The timeout is kept by the timers of the loop running on the calling thread, else of this
    /// loop: call it from a task of a running loop, as asyncio requires. nil or `.infinity` waits
    /// as long as it takes; zero or less gives the join until that loop's next iteration.
    ///
    /// Cancelling the calling task ends the wait with `CancellationError`; the executor stays
    /// shut down and its join goes on.
    ///
    /// - Returns: what it found and did (discardable: a timeout is reported anyway).
    /// - Throws: `CancellationError`; `EventLoopError.invalidDelay` for a NaN timeout; with a
    ///   timeout, `EventLoopError.closed` if the loop that would keep it is closed.
    @discardableResult
    public func shutdownDefaultExecutor(timeout: Double? = nil) async throws -> DefaultExecutorShutdown {
        if let timeout, timeout.isNaN { throw EventLoopError.invalidDelay(timeout) }
        let waiter = createFuture(of: Bool.self)
        enum Next { case done(DefaultExecutorShutdown), join(ThreadPool), wait }
        let state = self.state  // not under the lock: made under `lifecycleLock`
        let next = lifecycleLock.withLock { () -> Next in
            switch state.defaultExecutor {
            case .none:
                state.defaultExecutor = .shutDown(.nothing)
                return .done(.nothingToJoin)
            case .ready(let pool):
                state.defaultExecutor = .shutDown(.joining([waiter]))
                return .join(pool)
            case .shutDown(.nothing):
                return .done(.nothingToJoin)
            case .shutDown(.joined):
                return .done(.joined)
            case .shutDown(.joining(var waiters)):
                waiters.append(waiter)
                state.defaultExecutor = .shutDown(.joining(waiters))
                return .wait
            }
        }
        switch next {
        case .done(let outcome): return outcome
        case .join(let pool): startJoin(of: pool)
        case .wait: break
        }

        var timer: TimerHandle?
        if let timeout, timeout != .infinity {
            let clock = EventLoop.runningOnThisThread.value ?? self
            timer = try clock.callLater(max(timeout, 0)) { waiter.complete(with: .success(false)) }
        }
        defer { timer?.cancel() }
        if try await waiter.value { return .joined }
        let seconds = timeout ?? 0
        callExceptionHandler(EventLoopErrorContext(
            message: "the default executor did not finish joining its threads within \(seconds) seconds",
            error: TimeoutError(seconds: seconds)))
        return .timedOut
    }

    /// `shutdownDefaultExecutor(timeout:)` with the timeout as a `Duration` (`.seconds(300)`),
    /// for Swift code; the `Double?` form takes asyncio's seconds, and nil (no timeout).
    /// Converted to seconds (`Duration.inSeconds`) and passed to that form: `.zero` or less gives
    /// the join until the loop's next iteration, and everything else said there holds. asyncio:
    /// `await loop.shutdown_default_executor(timeout)`.
    ///
    /// - Throws: `CancellationError`; `EventLoopError.closed` if the loop that would keep the
    ///   timeout is closed.
    @discardableResult
    public func shutdownDefaultExecutor(timeout: Duration) async throws -> DefaultExecutorShutdown {
        try await shutdownDefaultExecutor(timeout: timeout.inSeconds)
    }

    /// Joins `pool`'s workers on a thread of its own (detached: nobody waits for the joiner
    /// itself), then marks the join done and completes its waiters. asyncio: `_do_shutdown`.
    private func startJoin(of pool: ThreadPool) {
        _ = PThread(name: "ml-ex\(id)-join", detached: true) { [self] in
            pool.shutdown(wait: true)
            let state = self.state  // not under the lock: made under `lifecycleLock`
            let waiters = lifecycleLock.withLock { () -> [Future<Bool>] in
                guard case .shutDown(.joining(let waiters)) = state.defaultExecutor else { return [] }
                state.defaultExecutor = .shutDown(.joined)
                return waiters
            }
            for waiter in waiters { waiter.complete(with: .success(true)) }
        }
    }

    /// The pool a `runInExecutor` call submits to: `pool`, or the default executor, created on
    /// first use. asyncio: `_check_closed()` first, then `_check_default_executor()` for the
    /// default executor only.
    private func executor(for pool: ThreadPool?) throws(EventLoopError) -> ThreadPool {
        if let pool {
            guard !isClosed else { throw .closed }
            return pool
        }
        let state = self.state  // not under the lock: made under `lifecycleLock`
        return try lifecycleLock.withLock { () throws(EventLoopError) -> ThreadPool in
            guard lifecycle != .closing && lifecycle != .closed else { throw .closed }
            switch state.defaultExecutor {
            case .ready(let pool):
                return pool
            case .none:
                let pool = ThreadPool(threads: ThreadPool.defaultThreadCount, name: "ml-ex\(id)", kind: .loopDefault)
                state.defaultExecutor = .ready(pool)
                return pool
            case .shutDown:
                throw .defaultExecutorShutDown
            }
        }
    }

    /// Why the default executor refused a job it was handed just after the call found it open.
    private func defaultExecutorRefusal() -> EventLoopError {
        isClosed ? .closed : .defaultExecutorShutDown
    }

    /// `close()`'s part: refuse default-executor work from now on, and shut the default executor
    /// down without waiting (asyncio's `close()`: `executor.shutdown(wait=False)`). Jobs it had
    /// queued still run, on its threads, which then end on their own; a join that
    /// `shutdownDefaultExecutor` started goes on.
    func shutDownDefaultExecutorAtClose() {
        let state = self.state  // not under the lock: made under `lifecycleLock`
        let pool = lifecycleLock.withLock { () -> ThreadPool? in
            switch state.defaultExecutor {
            case .none:
                state.defaultExecutor = .shutDown(.nothing)
                return nil
            case .ready(let pool):
                state.defaultExecutor = .shutDown(.nothing)
                return pool
            case .shutDown:
                return nil
            }
        }
        pool?.shutdown(wait: false)
    }

    /// The default executor, if one is in use (tests).
    var defaultExecutorPool: ThreadPool? {
        let state = self.state  // not under the lock: made under `lifecycleLock`
        return lifecycleLock.withLock {
            guard case .ready(let pool) = state.defaultExecutor else { return nil }
            return pool
        }
    }
}
