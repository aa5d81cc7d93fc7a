import _MultiLoopSystem
import CMultiLoopSystem

extension EventLoop {
    /// Calls `callback` on the loop thread each time `fd` is readable, until `removeReader(fd)`.
    /// asyncio: `loop.add_reader(fd, callback)`.
    ///
    /// Level-triggered, as asyncio's: the callback runs once per iteration for as long as the fd
    /// stays readable (read what is there, or remove the reader, or it runs again at once). An
    /// error or hang-up on the fd makes it readable too. A second `addReader` for the same fd
    /// replaces the callback (the old handle is cancelled); a reader and a writer of one fd are
    /// independent. An error thrown by the callback goes to the exception handler, and the reader
    /// stays registered.
    ///
    /// Safe from any thread, also while the loop is not running: the registration is made at
    /// once, under the loop's watch lock, and the loop (asleep or not) sees the fd's next
    /// readiness. (asyncio's must be called on the loop thread.)
    ///
    /// Not guaranteed: closing `fd` while it is registered removes it from epoll silently (the
    /// callback simply stops; remove the reader first, as asyncio asks). If another descriptor of
    /// the same open file (`dup`, a child process) stays open, epoll keeps reporting it under the
    /// closed number: another reason to remove before closing.
    ///
    /// - Returns: the callback's handle (`isCancelled` turns true when it is removed or replaced).
    /// - Throws: `EventLoopError.closed` after `close()`; `.badFileDescriptor` for a negative or
    ///   closed fd; `.unsupportedFileDescriptor` for a regular file or directory (always ready:
    ///   epoll refuses them); `.systemCallFailed("epoll_ctl", errno)` otherwise (ENOMEM, ENOSPC).
    @discardableResult
    public func addReader(file: StaticString = #fileID, line: UInt = #line, _ fd: Int32,
                          _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> Handle {
        try watch(fd, for: .readable, file: file, line: line, callback)
    }

    /// Stops calling the reader of `fd`. asyncio: `loop.remove_reader(fd)`.
    ///
    /// Any thread. On the loop thread, the callback does not run again once this returns, even
    /// if the fd was ready in this iteration (its handle is cancelled). The fd may already be
    /// closed. After `close()` there is nothing to remove (close removed every reader).
    ///
    /// - Returns: whether a reader was registered for `fd`.
    @discardableResult
    public func removeReader(_ fd: Int32) -> Bool {
        ioWatchers.unwatch(fd: fd, interest: .readable)
    }

    /// Calls `callback` on the loop thread each time `fd` is writable, until `removeWriter(fd)`.
    /// asyncio: `loop.add_writer(fd, callback)`. The same rules as `addReader`; a writable socket
    /// stays writable, so remove the writer once there is nothing left to write.
    @discardableResult
    public func addWriter(file: StaticString = #fileID, line: UInt = #line, _ fd: Int32,
                          _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> Handle {
        try watch(fd, for: .writable, file: file, line: line, callback)
    }

    private func watch(_ fd: Int32, for interest: IOInterest, file: StaticString, line: UInt,
                       _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> Handle {
        let handle = ReadinessCallbackHandle(fd: fd, interest: interest, file: file, line: line, body: callback)
        try ioWatchers.watch(handle)
        return handle
    }

    /// Stops calling the writer of `fd`; returns whether one was registered.
    /// asyncio: `loop.remove_writer(fd)`. The same rules as `removeReader`.
    @discardableResult
    public func removeWriter(_ fd: Int32) -> Bool {
        ioWatchers.unwatch(fd: fd, interest: .writable)
    }

    /// Whether `fd` has a reader. Any thread (a snapshot).
    public func hasReader(_ fd: Int32) -> Bool { ioWatchers.handle(fd: fd, interest: .readable) != nil }

    /// Whether `fd` has a writer. Any thread (a snapshot).
    public func hasWriter(_ fd: Int32) -> Bool { ioWatchers.handle(fd: fd, interest: .writable) != nil }

    /// Looks for ready fds without blocking, if any is watched, and queues their callbacks: the
    /// iteration's step 3b when it did not sleep. Loop thread.
    func pollReadiness() {
        guard ioWatchers.hasWatches else { return }
        sleepForReadiness(timeoutNanoseconds: 0)
    }

    /// Sleeps in epoll until a wake-up, a ready fd or the timeout, then queues the callbacks of
    /// the ready fds. Loop thread.
    func sleepForReadiness(timeoutNanoseconds: Int64) {
        let count = _MultiLoopSystem.ml_epoll_wait_events(
            waker.epollFD, ioWatchers.events, IOWatchers.eventCapacity, timeoutNanoseconds)
        if count > 0 { ioWatchers.collect(Int(count), into: &ready) }
    }
}
