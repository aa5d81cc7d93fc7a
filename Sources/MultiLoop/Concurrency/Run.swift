import _MultiLoopEventLoop
import _MultiLoopSystem

/// Runs `main` on a new event loop on the calling thread, and returns its result.
/// asyncio: `asyncio.run(main())`.
///
/// 1. Creates a new loop and sets it as this thread's loop (`getEventLoop()` returns it while
///    `run` lasts; the previous setting is restored afterwards).
/// 2. Runs `main` as the loop's task (named "main") until it is done.
/// 3. Cancels every task of the loop that is still running and runs the loop until each has
///    finished (a task that swallows its cancellation is waited for as long as it runs; tasks
///    they start meanwhile are cancelled in turn, for up to 100 rounds). Every error other than
///    a cancellation that those tasks end with is reported to the loop's exception handler
///    ("unhandled error during run() shutdown", with the task's name), as asyncio does.
/// 4. Shuts down the loop's default executor (`shutdownDefaultExecutor()`), running the loop
///    until the functions it still runs or has queued have finished (at most 300 s, asyncio's
///    `THREAD_JOIN_TIMEOUT`; then the exception handler is told).
/// 5. Closes the loop (which runs whatever callbacks were still accepted, and reports errors
///    never retrieved), and returns `main`'s result or rethrows its error.
///
/// - Throws: `EventLoopError.anotherLoopRunningOnThisThread` when called on a thread that is
///   running a loop (asyncio: "asyncio.run() cannot be called from a running event loop");
///   nothing is created then. `EventLoopError.systemCallFailed` if the loop cannot be created.
///   Otherwise what `main` throws (`CancelledError` if it was cancelled).
public func run<Value: Sendable>(_ main: @escaping @Sendable () async throws -> Value) throws -> Value {
    if EventLoop.runningOnThisThread.value != nil { throw EventLoopError.anotherLoopRunningOnThisThread }
    let loop = try EventLoop()
    let previous = Registry.setLoop.value
    setEventLoop(loop)
    defer { setEventLoop(previous) }

    let task = loop.createTask(name: "main", main)
    let outcome = Result { try loop.runUntilComplete(task.future) }
    loop.cancelRemainingTasks()
    loop.shutDownDefaultExecutorAtRunEnd()
    try loop.close()
    return try outcome.get()
}

extension EventLoop {
    /// `run(_:)` under a name nothing can shadow: an alias (docs/api-guidelines.md, "Aliases"),
    /// the same call with the same contract. asyncio: `asyncio.run(main())`.
    ///
    /// Why two names: the free `run { }` keeps the asyncio tutorial's look, but a free function
    /// loses to any member of that name, so inside a type with its own `run()` (an
    /// ArgumentParser command, a `Thread` subclass, a test fixture) `run { }` means the member.
    /// The module-qualified `MultiLoop.run { }` works until the program has a type named
    /// `MultiLoop` (a command, typically), which that spelling then means instead.
    /// `EventLoop.run { }` reads the same in every context.
    ///
    /// - Throws: as `run(_:)`.
    public static func run<Value: Sendable>(_ main: @escaping @Sendable () async throws -> Value) throws -> Value {
        try MultiLoop.run(main)
    }
}

extension EventLoop {
    /// Cancels every live task and runs the loop until all of them are done, then reports the
    /// errors they ended with. asyncio: `asyncio.runners._cancel_all_tasks`. Tasks that appear
    /// meanwhile are handled in further rounds, up to `maxRounds`; what is left after that is
    /// reported and left to `close()`.
    func cancelRemainingTasks(maxRounds: Int = 100) {
        for _ in 0..<maxRounds {
            let remaining = allTasks()
            guard !remaining.isEmpty else { return }
            for task in remaining { task.cancel() }
            let all = makeTask(name: "cancel-remaining") {
                for task in remaining { await task.waitUntilDone() }
            }
            _ = try? runUntilComplete(all.future)
            for task in remaining where task.isDone && !task.isCancelled {
                guard let error = try? task.exception() else { continue }
                callExceptionHandler(EventLoopErrorContext(
                    message: "unhandled error during run() shutdown", error: error, taskName: task.name))
            }
        }
        let left = allTasks()
        if !left.isEmpty {
            callExceptionHandler(EventLoopErrorContext(
                message: "run(): \(left.count) task(s) still running after \(maxRounds) rounds of cancellation; "
                    + "closing the loop under them"))
        }
    }

    /// Step 4 of `run`: shuts down the default executor and runs the loop until its threads
    /// have finished what they run and were joined, for at most `threadJoinTimeout` seconds
    /// (asyncio: `shutdown_default_executor(constants.THREAD_JOIN_TIMEOUT)`, 300 s; past it the
    /// exception handler is told and `run` goes on to close the loop).
    func shutDownDefaultExecutorAtRunEnd(threadJoinTimeout: Double = 300) {
        let shutdown = makeTask(name: "shutdown-default-executor") { [self] in
            try await shutdownDefaultExecutor(timeout: threadJoinTimeout)
        }
        _ = try? runUntilComplete(shutdown.future)
    }
}
