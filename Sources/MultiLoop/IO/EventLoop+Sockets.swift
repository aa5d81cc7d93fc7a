#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMultiLoopSystem

/// The loop's socket operations: asyncio's `loop.sock_recv`, `sock_recv_into`, `sock_sendall`,
/// `sock_connect` and `sock_accept`, for non-blocking stream sockets.
///
/// Each tries its system call at once, on the calling task's thread (a non-blocking call is safe
/// from any thread), and only when the socket is not ready waits for it on this loop
/// (`waitUntilReady`: a one-shot watch in the loop's epoll instance). The awaiting task may run on
/// any executor; on this loop it resumes in the same iteration that saw the socket ready.
///
/// ## Cancellation
/// A task cancelled while it waits throws `CancellationError`; the watch is removed and nothing
/// was read or written by the waiting call, so the socket stays usable (a later `sockRecv` gets
/// the bytes). `sockSendAll` may have sent a prefix before it waited: that prefix is on the
/// wire, as in asyncio. A cancelled `sockConnect` leaves the socket mid-connect: close it.
///
/// ## One operation per direction
/// A socket has one reader slot and one writer slot in the loop: a second task waiting to read
/// the same socket (or a wait on a socket with an `addReader` callback) gets
/// `EventLoopError.fileDescriptorBusy` instead of silently replacing the first, which asyncio
/// does and which leaves the first waiting forever.
///
/// ## Closing
/// Close a socket that a task may be waiting on with `sockClose(_:)`: the kernel does not tell
/// epoll that an fd was closed, so a wait on a socket closed with plain `close()` never ends.
extension EventLoop {
    /// Receives up to `maxCount` bytes; an empty array means the peer closed its side (EOF).
    /// asyncio: `loop.sock_recv(sock, nbytes)`.
    ///
    /// - Throws: `SocketError` (`.connectionReset`, `.closed`, `.invalidArgument` for a negative
    ///   count), `CancellationError`, `EventLoopError` (`.closed`: the loop closed during the wait;
    ///   `.fileDescriptorBusy`).
    public func sockRecv(_ fd: Int32, _ maxCount: Int) async throws -> [UInt8] {
        guard maxCount >= 0 else { throw SocketError.invalidArgument("negative byte count \(maxCount)") }
        var bytes = [UInt8](repeating: 0, count: maxCount)
        while true {
            let count = try bytes.withUnsafeMutableBytes { buffer throws(SocketError) in
                try Self.receiveNow(fd, into: buffer)
            }
            if let count {
                bytes.removeSubrange(count...)
                return bytes
            }
            try await waitUntilReady(fd, forWriting: false)
        }
    }

    /// Receives into the start of `buffer`, up to its count (its other bytes are left as they
    /// were); returns how many bytes (0: EOF, or an empty buffer). asyncio:
    /// `loop.sock_recv_into(sock, buf)` with a `bytearray`. No allocation. Throws as `sockRecv`.
    public func sockRecvInto(_ fd: Int32, _ buffer: inout [UInt8]) async throws -> Int {
        while true {
            let count = try buffer.withUnsafeMutableBytes { pointer throws(SocketError) in
                try Self.receiveNow(fd, into: pointer)
            }
            if let count { return count }
            try await waitUntilReady(fd, forWriting: false)
        }
    }

    /// Receives into `buffer`; returns how many bytes (0: EOF, or an empty buffer).
    /// asyncio: `loop.sock_recv_into(sock, buf)`. The buffer must stay valid until this returns.
    /// Throws as `sockRecv`.
    public func sockRecvInto(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while true {
            if let count = try Self.receiveNow(fd, into: buffer) { return count }
            try await waitUntilReady(fd, forWriting: false)
        }
    }

    /// One non-blocking `recv`: the count (0 at EOF), or nil when nothing is there yet.
    /// `MSG_DONTWAIT`: never blocks the thread, even on a socket left in blocking mode.
    package static func receiveNow(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int? {
        guard buffer.count > 0 else { return 0 }
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count >= 0 { return count }
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR: continue
            default: throw SocketError(errno: code, call: "recv")
            }
        }
    }

    /// Sends all of `bytes`, waiting for room as often as needed. asyncio: `loop.sock_sendall`.
    ///
    /// - Throws: `SocketError` (`.brokenPipe` when the peer has closed, `.connectionReset`,
    ///   `.closed`), `CancellationError` (a prefix may have been sent), `EventLoopError`.
    public func sockSendAll(_ fd: Int32, _ bytes: [UInt8]) async throws {
        var sent = 0
        while true {
            sent += try bytes.withUnsafeBytes { buffer throws(SocketError) in
                try Self.sendNow(fd, UnsafeRawBufferPointer(rebasing: buffer[sent...]))
            }
            if sent == bytes.count { return }
            try await waitUntilReady(fd, forWriting: true)
        }
    }

    /// Sends all of `buffer`; see `sockSendAll(_:_:)`. The buffer must stay valid until this
    /// returns.
    public func sockSendAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) async throws {
        var sent = 0
        while true {
            sent += try Self.sendNow(fd, UnsafeRawBufferPointer(rebasing: buffer[sent...]))
            if sent == buffer.count { return }
            try await waitUntilReady(fd, forWriting: true)
        }
    }

    /// Sends as much of `buffer` as the socket takes now, without blocking; returns the count
    /// (0 when it has no room). `MSG_NOSIGNAL`: a closed peer is `.brokenPipe`, never a SIGPIPE
    /// that kills the process.
    package static func sendNow(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SocketError) -> Int {
        var sent = 0
        while sent < buffer.count {
            let count = send(fd, buffer.baseAddress! + sent, buffer.count - sent,
                             Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
            if count >= 0 {
                sent += count
                continue
            }
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK: return sent
            case EINTR: continue
            default: throw SocketError(errno: code, call: "send")
            }
        }
        return sent
    }

    /// Connects `fd` to `address`. asyncio: `loop.sock_connect(sock, address)`.
    ///
    /// - Throws: `SocketError.blockingSocket` for a blocking socket (its connect would block the
    ///   thread); `.connectionRefused`, `.timedOut`, `.unreachable`, `.invalidAddress`;
    ///   `CancellationError` (the socket is left mid-connect: close it); `EventLoopError`.
    public func sockConnect(_ fd: Int32, _ address: SocketAddress) async throws {
        guard try Socket.isNonBlocking(fd) else { throw SocketError.blockingSocket(fd) }
        while true {
            let rc = try address.withSockAddr { Glibc.connect(fd, $0, $1) }
            if rc == 0 { return }
            let code = errno
            switch code {
            case EISCONN:
                return  // connected already (a connect that completed before this call)
            case EINPROGRESS, EINTR, EALREADY:
                // Connecting in the background (after EINTR too; EALREADY: an earlier connect of
                // this socket is still going): writable when it is done.
                try await waitUntilReady(fd, forWriting: true)
                let result = Socket.pendingError(fd)
                guard result == 0 else { throw SocketError(errno: result, call: "connect") }
                return
            case EAGAIN:
                // A Unix socket whose listener's backlog is full: nothing is in progress; the
                // kernel offers no readiness for this, so try again shortly (on the caller's
                // loop's timer when it runs on a loop, not through Swift's global pool).
                try await sleepOnTimer(0.001)
            default:
                throw SocketError(errno: code, call: "connect")
            }
        }
    }

    /// Accepts a connection on the listening socket `fd`. asyncio: `loop.sock_accept(sock)`.
    ///
    /// - Returns: the new connection's fd (non-blocking, close-on-exec; the caller owns it) and
    ///   its peer's address.
    /// - Throws: `SocketError.blockingSocket` for a blocking listener; `.system("accept", EMFILE)`
    ///   when the process is out of descriptors (the pending connection stays queued);
    ///   `CancellationError`; `EventLoopError`.
    public func sockAccept(_ fd: Int32) async throws -> (fd: Int32, address: SocketAddress) {
        guard try Socket.isNonBlocking(fd) else { throw SocketError.blockingSocket(fd) }
        while true {
            if let accepted = try Socket.accept(fd) { return accepted }
            try await waitUntilReady(fd, forWriting: false)
        }
    }

    /// Closes `fd`, first ending every wait on it: a task in `sockRecv`, `sockSendAll`,
    /// `sockAccept` or `sockConnect` on this socket throws `SocketError.closed`, and its reader
    /// and writer callbacks are removed. asyncio has no such call (closing a socket that a
    /// coroutine waits on leaves it waiting).
    ///
    /// - Returns: how many watches (callbacks or waits) were removed.
    @discardableResult
    public func sockClose(_ fd: Int32) -> Int {
        let removed = closeWatches(of: fd, failing: SocketError.closed)
        Glibc.close(fd)
        return removed
    }
}
