#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension EventLoop {
    /// Sends `count` bytes of the regular file `file` from `offset` (nil: to its end) on the
    /// connected stream socket `fd`, with `sendfile(2)`: the kernel copies from the page cache,
    /// nothing passes through user space. Returns how many bytes were sent (fewer than `count`
    /// only when the file ends first; 0 when `offset` is at or past its end). asyncio:
    /// `loop.sock_sendfile(sock, file, offset, count)`.
    ///
    /// As asyncio's, it leaves the file's position after the last byte sent (`offset` + the
    /// count returned), also when it throws after sending some; the socket's other operations
    /// may be mixed with it (it sends nothing else meanwhile). A cancelled call has sent a
    /// prefix (the file's position says how much).
    ///
    /// - Throws: `SocketError.invalidArgument` for a negative offset, a count that is not
    ///   positive, a socket that is not a stream socket, or a file that is not a regular file
    ///   (asyncio falls back to reading it in the executor there; here send it with
    ///   `sockSendAll`); `.blockingSocket` for a blocking socket (`sendfile` has no
    ///   `MSG_DONTWAIT`); `.brokenPipe`, `.connectionReset`, `.closed`; `CancellationError`;
    ///   `EventLoopError`.
    @discardableResult
    public func sockSendFile(_ fd: Int32, file: Int32, offset: Int = 0, count: Int? = nil) async throws -> Int {
        guard offset >= 0 else { throw SocketError.invalidArgument("offset must be non-negative, not \(offset)") }
        if let count, count <= 0 { throw SocketError.invalidArgument("count must be positive, not \(count)") }
        guard try Socket.isStream(fd) else { throw SocketError.invalidArgument("only stream sockets send files") }
        guard try Socket.isNonBlocking(fd) else { throw SocketError.blockingSocket(fd) }
        var status = stat()
        guard fstat(file, &status) == 0 else { throw SocketError(errno: errno, call: "fstat") }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw SocketError.invalidArgument("fd \(file) is not a regular file")
        }
        let total = count ?? max(0, Int(status.st_size) - offset)
        var sent = 0
        defer { if sent > 0 { lseek(file, off_t(offset + sent), SEEK_SET) } }
        while sent < total {
            let (count, code) = Self.sendFileNoSignal(fd, file, offset: offset + sent, count: total - sent)
            if count > 0 {
                sent += count
                continue
            }
            if count == 0 { break }  // the file ended
            switch code {
            case EAGAIN, EWOULDBLOCK: try await waitUntilReady(fd, forWriting: true)
            case EINTR: continue
            default: throw SocketError(errno: code, call: "sendfile")
            }
        }
        return sent
    }

    /// One `sendfile` that cannot kill the process: `sendfile` has no `MSG_NOSIGNAL`, and a peer
    /// that has closed makes the kernel raise SIGPIPE (whose default action ends the process).
    /// So SIGPIPE is blocked on this thread for the call, and a SIGPIPE the call raised (with
    /// EPIPE, or during a partial send) is taken from the pending set before the old mask comes
    /// back; one that was pending before is left alone. Returns the count (or -1) and errno.
    private static func sendFileNoSignal(_ fd: Int32, _ file: Int32, offset: Int, count: Int) -> (Int, Int32) {
        var pipeOnly = sigset_t()
        sigemptyset(&pipeOnly)
        sigaddset(&pipeOnly, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeOnly, &previous)
        var pendingBefore = sigset_t()
        sigpending(&pendingBefore)
        var position = off_t(offset)
        let sent = Glibc.sendfile(fd, file, &position, count)
        let code = sent < 0 ? errno : 0
        // Also after a partial send: the kernel raises SIGPIPE when the peer's reset comes in
        // the middle of a call that then returns the count it sent before.
        var pendingAfter = sigset_t()
        sigpending(&pendingAfter)
        if sigismember(&pendingAfter, SIGPIPE) == 1 && sigismember(&pendingBefore, SIGPIPE) == 0 {
            var now = timespec(tv_sec: 0, tv_nsec: 0)
            _ = sigtimedwait(&pipeOnly, nil, &now)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        return (sent, code)
    }
}
