#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import _MultiLoopSystem
import CMultiLoopSystem

/// Which readiness a watch waits for.
enum IOInterest {
    case readable, writable

    var bit: UInt32 { self == .readable ? UInt32(ML_IO_READABLE) : UInt32(ML_IO_WRITABLE) }
}

/// What watches an fd: the loop runs it each time the fd is ready (level-triggered), until it is
/// removed or replaced. Not recycled.
class ReadinessHandle: Handle, @unchecked Sendable {
    let fd: Int32
    let interest: IOInterest

    init(fd: Int32, interest: IOInterest, file: StaticString, line: UInt) {
        self.fd = fd
        self.interest = interest
        super.init(kind: .callback, file: file, line: line)
    }

    /// Called (on the thread that removes it) when the watch is removed for the waiter rather
    /// than by it: the loop closes, or the fd is closed through the loop (`closeWatches`).
    func removedUnderneath(_ error: any Error) {}

    override var kindDescription: String {
        "\(interest == .readable ? "reader" : "writer") fd=\(fd)"
    }
}

/// The callback of `addReader` / `addWriter`. Its closure is kept, not moved out, because it
/// runs again and again.
final class ReadinessCallbackHandle: ReadinessHandle, @unchecked Sendable {
    private let body: @Sendable () throws -> Void

    init(fd: Int32, interest: IOInterest, file: StaticString, line: UInt,
         body: @escaping @Sendable () throws -> Void) {
        self.body = body
        super.init(fd: fd, interest: interest, file: file, line: line)
    }

    override func invoke() throws { try body() }
}

/// The file descriptors a loop watches for readiness, and their callbacks: asyncio's selector
/// with its keys (`BaseSelectorEventLoop._add_reader` and friends), over the loop's epoll
/// instance.
///
/// ## Threads
/// - The table (`watches`, `watchedCount`, `closed`) and the epoll registrations are changed
///   together, under `lock`, by any thread: `addReader` and its siblings answer at once (the
///   removal's Bool, a bad fd's error) on whichever thread calls them, also while the loop is not
///   running, and the kernel's interest list always matches the table. `epoll_ctl` is safe while
///   the loop thread sleeps in `epoll_wait`: a watch added from another thread wakes it when the
///   fd becomes ready, with no eventfd write.
/// - The loop thread resolves the events of one wait under `lock` once (`collect`), appending the
///   current handles to its ready queue. A handle removed or replaced after that is cancelled
///   (`Handle.cancel`), and the loop skips cancelled handles, so a callback never *starts* after
///   its removal has returned, on the loop thread; from another thread it may be running at
///   that moment (as any callback may).
/// - `countWord` mirrors the number of watched fds for the loop's per-iteration check (a relaxed
///   load, no lock): when it reads 0 the loop does not poll while it has other work. A stale 0
///   only delays events until the loop's next sleep or iteration; the fds are level-triggered,
///   so nothing is lost.
/// - `events` is the loop thread's buffer for `epoll_wait`; only the loop thread touches it.
final class IOWatchers: @unchecked Sendable {
    struct Watch {
        var reader: ReadinessHandle?
        var writer: ReadinessHandle?

        var events: UInt32 {
            (reader == nil ? 0 : UInt32(ML_IO_READABLE)) | (writer == nil ? 0 : UInt32(ML_IO_WRITABLE))
        }

        subscript(interest: IOInterest) -> ReadinessHandle? {
            get { interest == .readable ? reader : writer }
            set { if interest == .readable { reader = newValue } else { writer = newValue } }
        }
    }

    let lock = PThreadMutex()
    private let epollFD: Int32
    /// Indexed by fd (descriptors are small and dense). Guarded by `lock`.
    private var watches: [Watch] = []
    /// How many fds have a reader or a writer. Guarded by `lock`; mirrored in `countWord`.
    private var watchedCount = 0
    /// Set by the loop's `close()`: no watch is accepted after it. Guarded by `lock`.
    private var closed = false
    private let words = CacheAlignedWords(lines: 1)

    static var eventCapacity: Int32 { Int32(ML_EPOLL_MAX_EVENTS) }
    let events = UnsafeMutablePointer<ml_io_event>.allocate(capacity: Int(ML_EPOLL_MAX_EVENTS))

    init(epollFD: Int32) {
        self.epollFD = epollFD
    }

    deinit { events.deallocate() }

    private var countWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 0) }

    /// Whether any fd is watched (relaxed: see the type's threading rules). Loop thread.
    var hasWatches: Bool { ml_load_relaxed(countWord) != 0 }

    /// Starts watching `fd` for `interest` with `handle`, replacing (and cancelling) the handle
    /// that watched it for the same interest, or, with `replacing: false`, refusing to
    /// (`.fileDescriptorBusy`). Any thread.
    func watch(_ handle: ReadinessHandle, replacing: Bool = true) throws(EventLoopError) {
        let fd = handle.fd
        guard fd >= 0 else { throw .badFileDescriptor(fd) }
        try lock.withLock { () throws(EventLoopError) in
            guard !closed else { throw .closed }
            let index = Int(fd)
            var watch = index < watches.count ? watches[index] : Watch()
            let before = watch.events
            let replaced = watch[handle.interest]
            if replaced != nil && !replacing { throw .fileDescriptorBusy(fd) }
            watch[handle.interest] = handle
            // epoll first: it refuses an fd that is not open (EBADF) before the table grows to
            // that index, so a wild number (addReader(Int32.max)) costs nothing.
            try apply(fd: fd, from: before, to: watch.events)
            if index >= watches.count {
                watches.append(contentsOf: repeatElement(Watch(), count: index + 1 - watches.count))
            }
            watches[index] = watch
            replaced?.cancel()
            if before == 0 { setCount(watchedCount + 1) }
        }
    }

    /// Stops watching `fd` for `interest`; returns whether a handle did (it is cancelled).
    /// Any thread.
    func unwatch(fd: Int32, interest: IOInterest) -> Bool {
        guard fd >= 0 else { return false }
        return lock.withLock {
            let index = Int(fd)
            guard index < watches.count, let handle = watches[index][interest] else { return false }
            var watch = watches[index]
            let before = watch.events
            watch[interest] = nil
            // The fd may be closed already (epoll dropped it then): nothing left to undo.
            _ = try? apply(fd: fd, from: before, to: watch.events)
            watches[index] = watch
            handle.cancel()
            if watch.events == 0 { setCount(watchedCount - 1) }
            return true
        }
    }

    /// The handle watching `fd` for `interest`, if any. Any thread.
    func handle(fd: Int32, interest: IOInterest) -> Handle? {
        guard fd >= 0 else { return nil }
        return lock.withLock { Int(fd) < watches.count ? watches[Int(fd)][interest] : nil }
    }

    /// Appends the handles whose fds are ready, by the first `count` entries of `events`, to
    /// `ready`: for each fd its reader, then its writer, as asyncio's `_process_events`. An error
    /// or hang-up wakes both, as asyncio's selector reports them. Loop thread.
    func collect(_ count: Int, into ready: inout ReadyQueue) {
        lock.withLock {
            for index in 0..<count {
                let event = events[index]
                guard event.token != UInt64.max /* ML_EPOLL_WAKER_TOKEN */, Int(event.token) < watches.count else { continue }
                let watch = watches[Int(event.token)]
                if event.events & ~UInt32(ML_IO_WRITABLE) != 0, let reader = watch.reader {
                    ready.append(.handle(reader))
                }
                if event.events & ~UInt32(ML_IO_READABLE) != 0, let writer = watch.writer {
                    ready.append(.handle(writer))
                }
            }
        }
    }

    /// Removes every watch and refuses new ones: the loop is closing (or, unclosed, going away).
    /// Returns how many readers and writers were removed (each handle is cancelled; a waiter's
    /// task is resumed with `EventLoopError.closed`). Any thread (the closing one).
    func closeAll() -> (readers: Int, writers: Int) {
        let (removed, gone) = lock.withLock { () -> ((readers: Int, writers: Int), [ReadinessHandle]) in
            closed = true
            var removed = (readers: 0, writers: 0)
            var gone: [ReadinessHandle] = []
            for (fd, watch) in watches.enumerated() where watch.events != 0 {
                _ = ml_epoll_watch(epollFD, Int32(ML_EPOLL_DEL), Int32(fd), 0)
                if let reader = watch.reader { reader.cancel(); removed.readers += 1; gone.append(reader) }
                if let writer = watch.writer { writer.cancel(); removed.writers += 1; gone.append(writer) }
            }
            watches.removeAll()
            setCount(0)
            return (removed, gone)
        }
        // Outside the lock: a waiter resumes its task here.
        for handle in gone { handle.removedUnderneath(EventLoopError.closed) }
        return removed
    }

    /// Removes the reader and the writer of `fd`, telling waiters (`removedUnderneath`) that
    /// `error` ended their wait. Returns how many watches it removed. Any thread.
    func removeAll(fd: Int32, failing error: any Error) -> Int {
        guard fd >= 0 else { return 0 }
        let gone: [ReadinessHandle] = lock.withLock {
            let index = Int(fd)
            guard index < watches.count, watches[index].events != 0 else { return [] }
            let watch = watches[index]
            _ = try? apply(fd: fd, from: watch.events, to: 0)
            watches[index] = Watch()
            setCount(watchedCount - 1)
            return [watch.reader, watch.writer].compactMap { $0 }
        }
        for handle in gone {
            handle.cancel()
            handle.removedUnderneath(error)
        }
        return gone.count
    }

    /// Brings the kernel's interest in `fd` from `before` to `after`. Under `lock`.
    ///
    /// A table entry can outlive its fd: closing a descriptor drops it from epoll without telling
    /// anyone, and the number may be reused. So a change that finds no registration (ENOENT)
    /// adds one, and an addition that finds one (EEXIST: another descriptor of the same open
    /// file is still registered) changes it.
    private func apply(fd: Int32, from before: UInt32, to after: UInt32) throws(EventLoopError) {
        var rc: Int32
        if after == 0 {
            rc = ml_epoll_watch(epollFD, Int32(ML_EPOLL_DEL), fd, 0)
            if rc == ENOENT || rc == EBADF { rc = 0 }
        } else if before == 0 {
            rc = ml_epoll_watch(epollFD, Int32(ML_EPOLL_ADD), fd, after)
            if rc == EEXIST { rc = ml_epoll_watch(epollFD, Int32(ML_EPOLL_MOD), fd, after) }
        } else {
            rc = ml_epoll_watch(epollFD, Int32(ML_EPOLL_MOD), fd, after)
            if rc == ENOENT { rc = ml_epoll_watch(epollFD, Int32(ML_EPOLL_ADD), fd, after) }
        }
        switch rc {
        case 0: return
        case EBADF: throw .badFileDescriptor(fd)
        case EPERM: throw .unsupportedFileDescriptor(fd)
        default: throw .systemCallFailed("epoll_ctl", rc)
        }
    }

    private func setCount(_ count: Int) {
        watchedCount = count
        ml_store_relaxed(countWord, ml_word_t(count))
    }
}
