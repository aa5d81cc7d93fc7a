import _MultiLoopEventLoop
import _MultiLoopSystem

/// What a loop group's shutdown did with the work it still held.
public struct LoopGroupShutdownReport: Sendable, Equatable, CustomStringConvertible {
    /// One loop's part.
    public struct Loop: Sendable, Equatable {
        public var index: Int
        /// Callbacks accepted before the loop closed that ran during its close (they ran; they
        /// are counted to show that nothing accepted was dropped).
        public var callbacksRunAtClose: Int
        /// Timers not yet due, cancelled; whoever waited for one was told (a sleeping task gets
        /// `CancellationError`, a `schedule(after:)` future `EventLoopError.closed`).
        public var timersCancelled: Int
        /// Live tasks the shutdown cancelled.
        public var tasksCancelled: Int
        /// Tasks still running when the grace period ended (they go on, off the loop).
        public var tasksAbandoned: Int
        /// `submitTask` submissions accepted but not started: their futures were cancelled.
        public var submissionsCancelled: Int

        public init(index: Int, callbacksRunAtClose: Int = 0, timersCancelled: Int = 0, tasksCancelled: Int = 0,
                    tasksAbandoned: Int = 0, submissionsCancelled: Int = 0) {
            self.index = index
            self.callbacksRunAtClose = callbacksRunAtClose
            self.timersCancelled = timersCancelled
            self.tasksCancelled = tasksCancelled
            self.tasksAbandoned = tasksAbandoned
            self.submissionsCancelled = submissionsCancelled
        }
    }

    /// Per loop, by index.
    public var loops: [Loop]

    public init(loops: [Loop]) {
        self.loops = loops
    }

    public var callbacksRunAtClose: Int { loops.reduce(0) { $0 + $1.callbacksRunAtClose } }
    public var timersCancelled: Int { loops.reduce(0) { $0 + $1.timersCancelled } }
    public var tasksCancelled: Int { loops.reduce(0) { $0 + $1.tasksCancelled } }
    public var tasksAbandoned: Int { loops.reduce(0) { $0 + $1.tasksAbandoned } }
    public var submissionsCancelled: Int { loops.reduce(0) { $0 + $1.submissionsCancelled } }

    public var description: String {
        "callbacks run at close: \(callbacksRunAtClose), timers cancelled: \(timersCancelled), "
            + "tasks cancelled: \(tasksCancelled), tasks abandoned: \(tasksAbandoned), "
            + "submissions cancelled: \(submissionsCancelled)"
    }
}

extension LoopGroup {
    /// Shuts the group down, losing nothing that was accepted, and blocks the calling thread until
    /// it is done. Call it from a thread that runs no event loop (from a task, use
    /// `await shutdownGracefully()`); more than once if you like (a second call waits for the
    /// first and returns the same report). SwiftNIO: `syncShutdownGracefully()`; tokio: dropping
    /// the `Runtime` (`shutdown_timeout`); asyncio has no loop group.
    ///
    /// In order:
    /// 1. `submit` and `submitTask` throw `LoopGroupError.shutDown` from now on.
    /// 2. Each loop, in its own next iteration, cancels its live tasks (`allTasks()`) and keeps
    ///    running while they finish their cancellation (their `catch` and `defer` code, awaits
    ///    included), cancelling any task they start, for at most `gracePeriod` seconds. Work that
    ///    arrives meanwhile runs as usual; a `submitTask` that arrives is not started (its future
    ///    is cancelled and counted).
    /// 3. Each loop's thread then closes its loop: its lanes refuse new work from that instant (a
    ///    submission either got in before, and runs, or throws `.closed` / `.shutDown`), every
    ///    callback accepted before it runs exactly once, and timers not yet due are cancelled,
    ///    their waiters told (a sleeping task gets `CancellationError`, a `schedule(after:)`
    ///    future `EventLoopError.closed`).
    /// 4. Every thread is joined: when this returns, nothing of the group runs any more (a task
    ///    abandoned after the grace period, or a job enqueued on a closed loop, runs on Swift's
    ///    global executor, and the loop's exception handler is told).
    ///
    /// SwiftNIO, in contrast, fails work submitted during its shutdown with an error printed to
    /// the console and leaves the promise of a task it could not run uncompleted.
    ///
    /// - Returns: what was cancelled, per loop.
    /// - Throws: `LoopGroupError.shutdownFromLoopThread` on a thread that runs an event loop
    ///   (one of the group's: it would wait for itself; any other: it would stall that loop; as
    ///   `Future.wait` refuses), `.sharedGroupCannotShutDown`; in both cases nothing happened.
    @discardableResult
    public func syncShutdownGracefully(gracePeriod: Double = 10) throws(LoopGroupError) -> LoopGroupShutdownReport {
        if isShared { throw .sharedGroupCannotShutDown }
        if EventLoop.runningOnThisThread.value != nil || loops.contains(where: \.isOnLoopThread) {
            throw .shutdownFromLoopThread
        }
        let finished: LoopGroupShutdownReport? = lifecycleLock.withLock {
            while true {
                switch lifecycle {
                case .running:
                    lifecycle = .shuttingDown
                    return nil
                case .shuttingDown:
                    _ = lifecycleLock.wait(deadlineNanoseconds: nil)
                case .shutDown(let report):
                    return report
                }
            }
        }
        if let finished { return finished }

        stopAcceptingWork()
        for member in members { member.requestShutdown(gracePeriod: gracePeriod.isNaN ? 0 : gracePeriod) }
        for thread in threads { thread.join() }
        // After the joins: each member's counters were written by its (now ended) thread.
        let report = LoopGroupShutdownReport(loops: members.map(\.report))
        lifecycleLock.withLock {
            lifecycle = .shutDown(report)
            lifecycleLock.broadcast()
        }
        return report
    }

    /// `syncShutdownGracefully(gracePeriod:)` for async code, the same shutdown: it runs on a
    /// thread of its own and the calling task is suspended meanwhile, so a task of another loop
    /// (or of Swift's global executor) can shut a group down without blocking its thread.
    /// SwiftNIO: `shutdownGracefully() async` (the same name; the blocking form is
    /// `syncShutdownGracefully()` in both libraries).
    ///
    /// - Throws: `LoopGroupError.shutdownFromLoopThread` from a task of one of the group's own loops
    ///   (the shutdown would cancel and wait for the task that waits for it),
    ///   `.sharedGroupCannotShutDown`.
    @discardableResult
    public func shutdownGracefully(gracePeriod: Double = 10) async throws(LoopGroupError) -> LoopGroupShutdownReport {
        if isShared { throw .sharedGroupCannotShutDown }
        if loops.contains(where: \.isOnLoopThread) { throw .shutdownFromLoopThread }
        let outcome = await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<LoopGroupShutdownReport, LoopGroupError>, Never>) in
            _ = PThread(name: "ml-shutdown", detached: true) {
                do throws(LoopGroupError) {
                    continuation.resume(returning: .success(try self.syncShutdownGracefully(gracePeriod: gracePeriod)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try outcome.get()
    }

    /// `syncShutdownGracefully(gracePeriod:)` with the grace period as a `Duration`
    /// (`.seconds(2)`), for Swift code; the `Double` form takes seconds (default 10). Converted to
    /// seconds (`Duration.inSeconds`) and passed to that form: with `.zero` (or less) the tasks
    /// still running once cancelled are abandoned at once, and everything else said there holds. SwiftNIO: `syncShutdownGracefully()`.
    ///
    /// - Throws: `LoopGroupError.shutdownFromLoopThread`, `.sharedGroupCannotShutDown`.
    @discardableResult
    public func syncShutdownGracefully(gracePeriod: Duration) throws(LoopGroupError) -> LoopGroupShutdownReport {
        try syncShutdownGracefully(gracePeriod: gracePeriod.inSeconds)
    }

    /// `shutdownGracefully(gracePeriod:) async` with the grace period as a `Duration`
    /// (`.seconds(2)`), for Swift code; the `Double` form takes seconds (default 10). Converted
    /// to seconds (`Duration.inSeconds`) and passed to that form. SwiftNIO:
    /// `shutdownGracefully() async`.
    ///
    /// - Throws: `LoopGroupError.shutdownFromLoopThread`, `.sharedGroupCannotShutDown`.
    @discardableResult
    public func shutdownGracefully(gracePeriod: Duration) async throws(LoopGroupError) -> LoopGroupShutdownReport {
        try await shutdownGracefully(gracePeriod: gracePeriod.inSeconds)
    }

    /// Whether `syncShutdownGracefully()` has completed.
    public var isShutDown: Bool {
        lifecycleLock.withLock {
            if case .shutDown = lifecycle { return true }
            return false
        }
    }
}
