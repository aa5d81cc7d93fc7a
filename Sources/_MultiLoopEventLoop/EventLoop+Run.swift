import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

extension EventLoop {
    /// The loop running on the calling thread, if any. Kept by `runForever` and `close`; the
    /// registry's `getRunningLoop()` reads it. Unretained: the frame that set it keeps the loop
    /// alive until it clears it.
    package static let runningOnThisThread = ThreadLocalSlot<EventLoop>(retaining: false)

    /// Runs the loop until `stop()` is called. asyncio: `loop.run_forever()`.
    ///
    /// If `stop()` was called before (from any thread), the loop runs exactly one iteration and
    /// returns. The calling thread becomes the loop thread until this returns.
    ///
    /// - Throws: `EventLoopError.closed`, `.reentrantRun` (called from one of this loop's own
    ///   callbacks), `.runningOnAnotherThread`, `.anotherLoopRunningOnThisThread`. When it throws,
    ///   nothing ran and the loop is unchanged.
    public func runForever() throws(EventLoopError) {
        try enter()
        defer { leave() }
        while true {
            runOnce()
            if stopping { break }
        }
    }

    /// Asks the loop to stop after the iteration in progress. Any thread.
    /// asyncio: `loop.stop()` (which is not thread-safe; this one is).
    ///
    /// From the loop thread it sets a flag. From another thread it sends a stop request through
    /// that thread's lane, which wakes a sleeping loop; the loop stops at the end of the
    /// iteration that receives it. Sent while the loop is not running, the request makes the
    /// next `runForever` run one iteration and return. On a closed loop it does nothing.
    public func stop(file: StaticString = #fileID, line: UInt = #line) {
        if isOnLoopThread {
            stopping = true
            return
        }
        let request = ArgumentHandle(kind: .callback, file: file, line: line,
                                     body: { (loop: EventLoop) in loop.stopping = true }, argument: self)
        // Refused only by a closed loop, which has nothing left to stop.
        try? schedule(request)
    }

    /// Claims the loop for the calling thread.
    private func enter() throws(EventLoopError) {
        let me = ml_thread_self()
        try lifecycleLock.withLock { () throws(EventLoopError) in
            switch lifecycle {
            case .closing, .closed:
                throw .closed
            case .running:
                throw ml_load_relaxed(ownerWord) == me ? .reentrantRun : .runningOnAnotherThread
            case .idle:
                if Self.runningOnThisThread.value != nil { throw .anotherLoopRunningOnThisThread }
                lifecycle = .running
                ml_store_relaxed(ownerWord, me)
            }
        }
        Self.runningOnThisThread.set(self)
    }

    /// Gives the loop back. The lock orders everything this thread did to the loop-thread state
    /// before whatever the next owner does.
    private func leave() {
        Self.runningOnThisThread.set(nil)
        stopping = false
        lifecycleLock.withLock {
            ml_store_relaxed(ownerWord, 0)
            lifecycle = .idle
        }
    }
}
