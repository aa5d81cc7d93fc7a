/// Runs `main` on a new event loop on the calling thread, and returns its result.
/// asyncio: `asyncio.run(main())`.
///
/// 1. Creates a new loop and sets it as this thread's loop (`getEventLoop()` returns it while
///    `run` lasts; the previous setting is restored afterwards).
/// 2. Runs `main` as the loop's task until it is done.
/// 3. Cancels every task of the loop that is still running and waits until each has finished
///    (a task that swallows its cancellation is waited for as long as it runs).
/// 4. Closes the loop (which runs whatever callbacks were still accepted), and returns `main`'s
///    result or rethrows its error.
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
    try loop.close()
    return try outcome.get()
}

extension EventLoop {
    /// Cancels every live task and runs the loop until all of them are done. asyncio:
    /// `asyncio.runners._cancel_all_tasks`.
    func cancelRemainingTasks() {
        let remaining = allTasks()
        guard !remaining.isEmpty else { return }
        for task in remaining { task.cancel() }
        let all = createTask(name: "cancel-remaining") {
            for task in remaining { await task.waitUntilDone() }
        }
        _ = try? runUntilComplete(all.future)
    }
}
