import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// What waits on a loop is told when the loop closes: nothing hangs, nothing keeps the loop
/// alive. Each test bounds its wait in seconds and fails by an assertion, not a hang.
@Suite("Closing a loop while something waits on it", .timeLimit(.minutes(5)))
struct ClosingWhileWaitingTests {
    typealias Event = FutureTesting.Event

    /// Runs `loop` on a thread of our own until `ready` is signalled by one of its tasks, then
    /// stops and closes it (the tasks still waiting stay suspended).
    static func runThenClose(_ loop: EventLoop, until ready: Event) async -> Bool {
        await offThePool {
            let thread = JoinableThread { try? loop.runForever() }
            let reached = ready.wait(seconds: 5)
            loop.stop()
            thread.join()
            _ = try? loop.close()
            return reached
        }
    }

    @Test("a task in sleep(.infinity) on a loop that closes ends with CancellationError")
    func infiniteSleepEndsAtClose() async throws {
        let loop = try EventLoop()
        let sleeping = Event()
        let ended = Locked<Result<Void, any Error>?>(nil)
        let done = Event()
        loop.createTask {
            sleeping.signal()
            let outcome: Result<Void, any Error>
            do {
                try await sleep(.infinity)
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            ended.withLock { $0 = outcome }
            done.signal()
        }
        #expect(await Self.runThenClose(loop, until: sleeping))
        // The task goes on on Swift's global pool (its loop is closed), which the suites beside
        // this one keep busy for a while under a sanitizer: the pool's bound
        // (`globalPoolSeconds`), still an assertion when the sleep never ends.
        #expect(await offThePool { done.wait(seconds: FutureTesting.globalPoolSeconds) },
                "the sleep did not end within \(FutureTesting.globalPoolSeconds) s of the close")
        #expect(throws: CancellationError.self) { try ended.value?.get() }
    }

    @Test("waitUntilDone on a loop that closes still returns when the task it waits for ends")
    func waitUntilDoneSurvivesTheClose() async throws {
        let waiting = try EventLoop()
        let other = try FutureTesting.LoopThread()
        defer { other.shutDown() }
        let gate = other.loop.createFuture(of: Void.self)
        let awaited = other.loop.createTask { try await gate.value }
        let started = Event()
        let returned = Event()
        waiting.createTask {
            started.signal()
            await awaited.waitUntilDone()
            returned.signal()
        }
        #expect(await Self.runThenClose(waiting, until: started))
        try other.sync { try gate.setResult(()) }
        // As above: the waiter resumes on the global pool.
        #expect(await offThePool { returned.wait(seconds: FutureTesting.globalPoolSeconds) }, "the waiter never resumed")
    }

    @Test("an error context kept by the exception handler does not keep the loop alive")
    func keptErrorContextDoesNotKeepTheLoop() throws {
        weak var weakLoop: EventLoop?
        let reports = Locked<[EventLoopErrorContext]>([])
        do {
            let loop = try EventLoop()
            weakLoop = loop
            loop.setExceptionHandler { _, context in reports.withLock { $0.append(context) } }
            let future = loop.createFuture(of: Int.self)
            try future.addDoneCallback(on: loop) { _ in }
            try loop.close()
            try future.setResult(1)  // the callback can no longer be scheduled: reported
        }
        #expect(reports.value.count == 1)
        #expect(reports.value.first?.handle != nil, "the report still names the callback")
        #expect(weakLoop == nil, "the kept context (its handle) held the loop")
    }

    @Test("a done callback whose loop no longer exists is reported, not run and not lost")
    func doneCallbackOfAGoneLoop() throws {
        let owner = try EventLoop()
        defer { _ = try? owner.close() }
        let future = owner.createFuture(of: Int.self)
        let ran = Locked(false)
        do {
            let gone = try EventLoop()
            try future.addDoneCallback(on: gone) { _ in ran.withLock { $0 = true } }
            try gone.close()
        }
        try future.setResult(2)  // its loop is gone: the default handler writes a report
        #expect(!ran.value)
    }
}
