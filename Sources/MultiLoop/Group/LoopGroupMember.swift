import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// One loop of a group and the state of its thread.
///
/// Threading: everything but `loop` and `index` belongs to the loop's thread (written there, in
/// the loop's callbacks and after its `runForever` returns). The shutting-down thread reads the
/// counters only after `pthread_join` of that thread, which orders them before the read.
final class LoopGroupMember: @unchecked Sendable {
    let loop: EventLoop
    let index: Int

    /// The kernel thread id (what /proc/self/task lists), set when the thread starts.
    private(set) var threadID: Int32 = 0
    /// Set by the shutdown's first callback: from then on new tasks are refused.
    private(set) var draining = false
    /// Set when the tasks are done (or the grace period is over): the thread then closes the loop.
    private var finishing = false
    private var cancelledTasks: Set<ObjectIdentifier> = []

    // What the shutdown report says of this loop.
    private(set) var tasksCancelled = 0
    private(set) var tasksAbandoned = 0
    private(set) var submissionsCancelled = 0
    private(set) var closeReport = EventLoopCloseReport()

    init(loop: EventLoop, index: Int) {
        self.loop = loop
        self.index = index
    }

    /// The thread's whole life: pin, register the loop, run it until the shutdown says so, close
    /// it (which runs whatever was accepted and cancels what timers are left).
    func threadMain(pinTo cpu: Int?, startup: LoopGroupStartup) {
        threadID = ml_gettid()
        let pinning = cpu.map { ml_thread_pin_to_cpu(Int32($0)) } ?? 0
        setEventLoop(loop)
        defer { setEventLoop(nil) }
        startup.arrive(index: index, code: pinning)
        while true {
            do {
                try loop.runForever()
            } catch {
                break  // closed by someone else between two runs: nothing left to run
            }
            if finishing { break }
            // Stopped by a user's `stop()`: the group's loop keeps running.
        }
        closeReport = (try? loop.close()) ?? EventLoopCloseReport()
    }

    /// Asks the loop to drain and end. Any thread; idempotent in effect (a second request finds
    /// the loop draining, or closed).
    func requestShutdown(gracePeriod: Double) {
        do {
            try loop.execute { [self] in
                guard !draining else { return }
                draining = true
                sweep(until: loop.time() + max(0, gracePeriod))
            }
        } catch {
            // Closed already (its close was called directly): the thread is leaving anyway.
        }
    }

    /// Loop thread: cancels every live task not cancelled yet, and ends the loop once none is
    /// left or the grace period is over. Re-checks every millisecond: a cancelled task needs
    /// iterations of the loop to finish, and may start others.
    private func sweep(until deadline: Double) {
        let live = loop.allTasks()
        for task in live where cancelledTasks.insert(ObjectIdentifier(task)).inserted {
            if task.cancel() { tasksCancelled += 1 }
        }
        if live.isEmpty || loop.time() >= deadline {
            tasksAbandoned = live.count
            if !live.isEmpty {
                loop.callExceptionHandler(EventLoopErrorContext(
                    message: "loop group shutdown: \(live.count) task(s) still running after the grace period; "
                        + "their jobs will run on the global executor"))
            }
            finishing = true
            loop.stop()
            return
        }
        do {
            try loop.callLater(0.001) { [self] in sweep(until: deadline) }
        } catch {
            finishing = true
            loop.stop()
        }
    }

    /// Runs `operation` as a task of this loop, settling `future`. Loop thread (a callback that
    /// `submitTask` sent). Once the loop drains, the task is not started: the future is cancelled
    /// and counted.
    func startSubmittedTask<Value: Sendable>(_ future: Future<Value>, name: String?,
                                             _ operation: @escaping @Sendable () async throws -> Value) {
        if draining {
            submissionsCancelled += 1
            _ = future.cancel(message: "the loop group is shutting down")
            return
        }
        guard !future.isDone else { return }  // cancelled by the submitter before it started
        let task = loop.startTask(settling: future, name: name, operation)
        try? loop.cancelTask(task, whenCancelled: future)
    }

    /// This loop's part of the shutdown report. After the thread is joined.
    var report: LoopGroupShutdownReport.Loop {
        LoopGroupShutdownReport.Loop(
            index: index, callbacksRunAtClose: closeReport.callbacksRun, timersCancelled: closeReport.timersCancelled,
            tasksCancelled: tasksCancelled, tasksAbandoned: tasksAbandoned, submissionsCancelled: submissionsCancelled)
    }
}

/// The group's `init` waits here until every thread has started (and tried to pin itself).
final class LoopGroupStartup: @unchecked Sendable {
    private let lock = PThreadMutex()
    private let count: Int
    private var arrived = 0
    private var failure: (index: Int, code: Int32)?

    init(count: Int) {
        self.count = count
    }

    func arrive(index: Int, code: Int32) {
        lock.withLock {
            arrived += 1
            if code != 0 && failure == nil { failure = (index, code) }
            lock.broadcast()
        }
    }

    /// The first pinning failure, if any, once every thread has arrived.
    func waitForAll() -> (index: Int, code: Int32)? {
        lock.withLock {
            while arrived < count { _ = lock.wait(deadlineNanoseconds: nil) }
            return failure
        }
    }
}
