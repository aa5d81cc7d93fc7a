import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

/// What `close()` did with the work the loop still held.
public struct EventLoopCloseReport: Sendable, Equatable {
    /// Callbacks that were accepted before close and ran during it (nothing accepted is dropped).
    public var callbacksRun: Int
    /// Timers that had not fired; close cancels them (their handles report `isCancelled`). A
    /// task sleeping on one gets `CancellationError`; a future from `schedule(after:)` is
    /// completed with `EventLoopError.closed`.
    public var timersCancelled: Int
    /// Readers (`addReader`) still registered; close removes them (their handles report
    /// `isCancelled`) without calling them.
    public var readersRemoved: Int
    /// Writers (`addWriter`) still registered, removed the same way.
    public var writersRemoved: Int

    public init(callbacksRun: Int = 0, timersCancelled: Int = 0, readersRemoved: Int = 0,
                writersRemoved: Int = 0) {
        self.callbacksRun = callbacksRun
        self.timersCancelled = timersCancelled
        self.readersRemoved = readersRemoved
        self.writersRemoved = writersRemoved
    }
}

extension EventLoop {
    /// Closes the loop: it accepts no more work and can no longer run. asyncio: `loop.close()`.
    ///
    /// Idempotent: a second call returns an empty report (a call from another thread while the
    /// first is still closing waits for it). Unlike asyncio, which discards whatever is still
    /// scheduled, close loses nothing that was accepted: every callback handed to the loop before
    /// the close (still in a lane, or ready) runs now, on the calling thread, exactly once,
    /// and a callback that schedules more work during this final batch gets `.closed`. Timers not
    /// yet fired are cancelled and reported, and whoever waits for one is told (a task in `sleep`
    /// gets `CancellationError`, a `schedule(after:)` future `.closed`). After `close()` every
    /// scheduling call throws `.closed`. Then the layers above are told (`EventLoopAttachment`):
    /// the default executor is shut down without waiting, as asyncio's close does (jobs it had
    /// queued still run on its threads, see `runInExecutor`, which then end on their own), and
    /// the futures and tasks of this loop that ended with an error nobody retrieved, and are
    /// still alive, are reported to the exception handler ("Future exception was never
    /// retrieved", see `Future+Retrieval.swift`). Every reader and writer (`addReader`,
    /// `addWriter`) is removed first, without being called, and counted in the report.
    ///
    /// - Throws: `EventLoopError.closeWhileRunning` while the loop runs (also from its own
    ///   callbacks); the loop is unchanged.
    @discardableResult
    public func close() throws(EventLoopError) -> EventLoopCloseReport {
        let me = ml_thread_self()
        let proceed = try lifecycleLock.withLock { () throws(EventLoopError) -> Bool in
            while true {
                switch lifecycle {
                case .running:
                    throw .closeWhileRunning
                case .closed:
                    return false
                case .closing:
                    // A callback of the final batch calling close() again, or another thread.
                    if ml_load_relaxed(ownerWord) == me { return false }
                    _ = lifecycleLock.wait(deadlineNanoseconds: nil)
                case .idle:
                    lifecycle = .closing
                    ml_store_relaxed(ownerWord, me)
                    return true
                }
            }
        }
        guard proceed else { return EventLoopCloseReport() }

        let previous = Self.runningOnThisThread.value
        Self.runningOnThisThread.set(self)
        acceptingLocal = false
        var report = EventLoopCloseReport()

        // From here on every registration and every push is refused: first the inbox (no new
        // lanes), then each lane; what was accepted before goes into the ready queue and the heap.
        // No fd is watched from here on (a reader added by the final batch gets `.closed`).
        (report.readersRemoved, report.writersRemoved) = ioWatchers.closeAll()

        var registrations = inbox.close()
        while let lane = registrations.next() { lanes.append(.passRetained(lane)) }
        for lane in lanes {
            let taken = lane._withUnsafeGuaranteedRef { lane in lane.close { accept($0, into: &ready) } }
            counters.inboxPushes += UInt64(taken)
            lane.release()
        }
        lanes.removeAll()
        while let work = ready.popFirst() {
            if runAtClose(work) { report.callbacksRun += 1 }
        }
        for entry in timers.removeAll() where entry.handle.cancelIfPending() {
            report.timersCancelled += 1
            entry.handle.loopClosedBeforeDeadline()
        }
        publishStatistics()

        Self.runningOnThisThread.set(previous)
        lifecycleLock.withLock {
            ml_store_relaxed(ownerWord, 0)
            lifecycle = .closed
            lifecycleLock.broadcast()
        }
        existingAttachment?.loopDidClose(self)
        return report
    }

    private func runAtClose(_ work: consuming LoopWork) -> Bool {
        if let handle = work.handle.take() {
            guard run(handle) else { return false }
        } else if let body = work.body.take() {
            run(body, at: work.location)
        } else if let job = work.job {
            runJob(job)
        } else if let continuation = work.continuation {
            resumeInline(continuation)
        }
        counters.callbacksRun += 1
        return true
    }
}
