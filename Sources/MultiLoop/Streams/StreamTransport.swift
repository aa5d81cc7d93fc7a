#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// A connected stream socket driven by one loop: it reads into its `StreamReader` whenever the
/// socket is readable and sends what its `StreamWriter` writes, buffering what the socket does
/// not take at once. asyncio: `_SelectorSocketTransport` with `StreamReaderProtocol`.
///
/// ## Threads
/// - The socket's reader callback (`readReady`) and writer callback (`writeReady`) run on the
///   loop thread; so do `pauseReading`/`resumeReading` (the reader calls them) and
///   `connectionLost`. The `StreamReader` is only ever fed there.
/// - `write`, `writeEOF`, `close`, `abort`, `drain` and the accessors may be called from any
///   thread or task: the write side (`pending`, the flags, the fd's open state) is guarded by
///   `lock`, and a send happens under it, so two writers' bytes never interleave within a write
///   and nobody sends on a closed fd. What must run on the loop thread (feeding the reader the
///   end of the connection) is handed to the loop with `execute`.
/// - `drain` waits on `writable` (an `Event`, thread-safe), set while the buffer is at or below the
///   low-water mark, cleared above the high-water mark; `closed` is set once the fd is closed.
final class StreamTransport: StreamReaderTransport, @unchecked Sendable {
    let loop: EventLoop
    let fd: Int32
    let reader: StreamReader
    let lock = PThreadMutex()

    // Guarded by `lock`:
    /// Bytes written but not yet sent, from `pendingStart`.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var writerRegistered = false
    private var readerRegistered = false
    /// `pauseReading` was called (the reader holds too much), or the peer's EOF came.
    private var readingStopped = false
    private var readingPaused = false
    /// `close()` was called: the fd is closed once `pending` is sent.
    private var closing = false
    /// `writeEOF()` was called: the write side is shut down once `pending` is sent.
    private var eofRequested = false
    private var eofSent = false
    /// The fd is closed; `failure` says why, if it failed (set as soon as a send fails, before
    /// the loop closes the fd).
    private var fdClosed = false
    private var failure: (any Error)?
    /// Writes dropped because the connection was already lost (asyncio counts and warns).
    private(set) var droppedWrites = 0
    private(set) var highWater = 65_536
    private(set) var lowWater = 16_384

    /// Called once, after the fd is closed (the server's bookkeeping). Set under `lock`.
    private var closedHandler: (@Sendable () -> Void)?

    let writable = Event()
    let closed = Event()

    /// The most one `recv` asks for. asyncio's transports read up to 256 KiB at a time.
    static let readChunk = 65_536

    init(loop: EventLoop, fd: Int32, reader: StreamReader) {
        self.loop = loop
        self.fd = fd
        self.reader = reader
        writable.set()
    }

    /// What to call once the fd is closed (immediately if it already is). Any thread.
    var onClosed: (@Sendable () -> Void)? {
        get { lock.withLock { closedHandler } }
        set {
            let now = lock.withLock { () -> Bool in
                if fdClosed { return true }
                closedHandler = newValue
                return false
            }
            if now { newValue?() }
        }
    }

    /// A connection whose reader and writer were dropped while it was open (no callback holds
    /// it then: a registered callback keeps its transport alive): close the fd rather than leak it.
    deinit {
        if !fdClosed {
            loop.sockClose(fd)
            closedHandler?()
        }
    }

    /// Starts reading: registers the reader callback. Call once, after `reader.transport` is set.
    func start() throws(EventLoopError) {
        try lock.withLock { () throws(EventLoopError) in try startReadingLocked() }
    }

    // MARK: Reading (loop thread)

    private func readReady() {
        var endOfStream = false
        var receiveError: SocketError?
        do {
            // The read waiting for these bytes resumes in this callback, not an iteration later.
            _ = try loop.runResumedTaskInline { try reader.feed(capacity: Self.readChunk) { buffer in
                while true {
                    let count = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
                    if count > 0 { return count }
                    if count == 0 {
                        endOfStream = true
                        return 0
                    }
                    let code = errno
                    if code == EINTR { continue }
                    if code != EAGAIN && code != EWOULDBLOCK { receiveError = SocketError(errno: code, call: "recv") }
                    return 0
                }
            } }
        } catch {
            receiveError = receiveError ?? .closed
        }
        if let receiveError {
            connectionLost(receiveError)
        } else if endOfStream {
            // The peer's half-close: stop reading; the write side stays open (asyncio's
            // eof_received returning True). If we already shut our side down, it is all over.
            let finished = lock.withLock { () -> Bool in
                stopReadingLocked()
                readingStopped = true
                return eofSent
            }
            try? reader.feedEOF()
            if finished { connectionLost(nil) }
        }
    }

    /// Under `lock`.
    private func startReadingLocked() throws(EventLoopError) {
        try loop.addReader(fd) { [self] in readReady() }
        readerRegistered = true
    }

    /// Under `lock`.
    private func stopReadingLocked() {
        if readerRegistered {
            loop.removeReader(fd)
            readerRegistered = false
        }
    }

    func pauseReading() {
        lock.withLock {
            readingPaused = true
            stopReadingLocked()
        }
    }

    func resumeReading() {
        lock.withLock {
            readingPaused = false
            guard !readerRegistered, !readingStopped, !closing, !fdClosed else { return }
            try? startReadingLocked()
        }
    }

    // MARK: Writing (any thread)

    /// Sends `bytes` now if nothing is queued, and queues what the socket does not take.
    ///
    /// - Throws: `StreamError.writeAfterClose` after `close()`, `.writeAfterEOF` after
    ///   `writeEOF()`. After the connection is lost the bytes are dropped silently (as asyncio
    ///   does); `drain()` reports the loss.
    func write(_ bytes: UnsafeRawBufferPointer) throws(StreamError) {
        guard !bytes.isEmpty else { return }
        var lost: SocketError?
        try lock.withLock { () throws(StreamError) in
            if closing { throw .writeAfterClose }
            if eofRequested { throw .writeAfterEOF }
            if fdClosed || failure != nil {
                droppedWrites += 1
                return
            }
            var sent = 0
            if pendingCount == 0 {
                do {
                    sent = try EventLoop.sendNow(fd, bytes)
                } catch {
                    // Recorded now, not when the loop runs `connectionLost`: a task that writes
                    // and drains in a loop without ever suspending must see the loss in `drain`.
                    let error = error as? SocketError ?? .closed
                    failure = error
                    lost = error
                    return
                }
                if sent == bytes.count { return }
            }
            compactIfWorthIt()
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[sent...]))
            if !writerRegistered {
                if (try? loop.addWriter(fd, { [self] in writeReady() })) != nil { writerRegistered = true }
            }
            if pendingCount > highWater { writable.clear() }
        }
        if let lost { scheduleConnectionLost(lost) }
    }

    /// The socket has room: send what is queued. Loop thread.
    private func writeReady() {
        var lost: SocketError?
        var finished = false
        lock.withLock {
            guard !fdClosed else { return }
            do {
                let sent = try pending.withUnsafeBytes { buffer throws(SocketError) in
                    try EventLoop.sendNow(fd, UnsafeRawBufferPointer(rebasing: buffer[pendingStart...]))
                }
                pendingStart += sent
            } catch {
                lost = error as? SocketError ?? .closed
                return
            }
            if pendingCount <= lowWater { writable.set() }
            guard pendingCount == 0 else { return }
            pending.removeAll(keepingCapacity: pending.capacity <= highWater)
            pendingStart = 0
            loop.removeWriter(fd)
            writerRegistered = false
            if closing {
                finished = true
            } else if eofRequested && !eofSent {
                shutdownWriteLocked()
                finished = readingStopped
            }
        }
        if let lost { connectionLost(lost) } else if finished { connectionLost(nil) }
    }

    private var pendingCount: Int { pending.count - pendingStart }

    /// Drops the sent prefix when it is most of the buffer. Under `lock`.
    private func compactIfWorthIt() {
        if pendingStart > 0 && pendingStart >= pending.count / 2 {
            pending.removeSubrange(0..<pendingStart)
            pendingStart = 0
        }
    }

    /// Under `lock`.
    private func shutdownWriteLocked() {
        eofSent = true
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Shuts the write side down once everything written has been sent; later writes throw.
    /// asyncio: `transport.write_eof()`.
    func writeEOF() {
        let finished = lock.withLock { () -> Bool in
            guard !closing, !eofRequested, !fdClosed else { return false }
            eofRequested = true
            guard pendingCount == 0 else { return false }
            shutdownWriteLocked()
            return readingStopped
        }
        if finished { scheduleConnectionLost(nil) }
    }

    /// Bytes queued and not yet sent. asyncio: `transport.get_write_buffer_size()`.
    var writeBufferSize: Int { lock.withLock { pendingCount } }

    /// asyncio: `transport.set_write_buffer_limits(high, low)`.
    func setWriteBufferLimits(high: Int, low: Int) {
        lock.withLock {
            highWater = high
            lowWater = low
            if pendingCount > highWater { writable.clear() } else if pendingCount <= lowWater { writable.set() }
        }
    }

    /// Waits until the queue is at or below the low-water mark, if it is above the high-water
    /// mark. asyncio: `StreamWriter.drain()`.
    ///
    /// - Throws: the reader's exception if it has one, as asyncio's; the connection's failure,
    ///   or `SocketError.closed` once it is closed; `CancellationError`.
    nonisolated(nonsending) func drain() async throws {
        while true {
            let (over, lost, gone) = lock.withLock { (pendingCount > highWater, failure, fdClosed || closing) }
            if let lost { throw lost }
            if gone && !over { throw SocketError.closed }
            guard over else { return }
            try await writable.wait()
            try Task.checkCancellation()
        }
    }

    // MARK: Closing

    var isClosing: Bool { lock.withLock { closing || fdClosed } }

    /// Stops reading and closes the fd once everything written has been sent.
    /// asyncio: `transport.close()`.
    func close() {
        let now = lock.withLock { () -> Bool in
            guard !closing, !fdClosed else { return false }
            closing = true
            stopReadingLocked()
            return pendingCount == 0
        }
        if now { scheduleConnectionLost(nil) }
    }

    /// Closes at once, dropping what is queued. asyncio: `transport.abort()`.
    func abort() {
        lock.withLock {
            closing = true
            pending.removeAll()
            pendingStart = 0
        }
        scheduleConnectionLost(nil)
    }

    private func scheduleConnectionLost(_ error: (any Error)?) {
        do {
            try loop.execute { [self] in connectionLost(error) }
        } catch {
            connectionLost(error)  // the loop is closed: end here, on this thread
        }
    }

    /// Closes the fd (removing its callbacks) and tells the reader, the drainers and
    /// `waitClosed`. Idempotent. Loop thread (or the closing thread of a closed loop).
    func connectionLost(_ error: (any Error)?) {
        let first = lock.withLock { () -> Bool in
            guard !fdClosed else { return false }
            fdClosed = true
            closing = true
            failure = error
            pending.removeAll()
            pendingStart = 0
            readerRegistered = false
            writerRegistered = false
            loop.sockClose(fd)
            return true
        }
        guard first else { return }
        let handler = lock.withLock { closedHandler.take() }
        if let error {
            try? reader.setException(error)
        } else if !reader.isAtEOF {
            try? reader.feedEOF()
        }
        writable.set()
        closed.set()
        handler?()
    }

    /// Waits until the fd is closed. asyncio: `StreamWriter.wait_closed()`.
    func waitClosed() async throws {
        try await closed.wait()
    }
}
