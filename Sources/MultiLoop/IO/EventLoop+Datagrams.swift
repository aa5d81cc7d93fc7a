#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The loop's datagram operations: asyncio's `loop.sock_recvfrom`, `sock_recvfrom_into` and
/// `sock_sendto` (Python 3.11), for UDP and Unix-domain datagram sockets (`Socket.makeDatagram`).
///
/// As the stream operations (`EventLoop+Sockets.swift`): each tries its system call at once
/// (`MSG_DONTWAIT`, so a socket left in blocking mode never blocks the thread) and waits for the
/// socket on this loop only when it is not ready; a task cancelled while it waits throws
/// `CancellationError` with nothing received or sent, and the socket stays usable; a second task
/// waiting in the same direction gets `EventLoopError.fileDescriptorBusy`; `sockClose` ends the
/// waits on a socket.
///
/// Datagrams are not a stream: one call receives one whole datagram or none. An empty datagram
/// is an empty result, not an end (datagram sockets have none). A datagram longer than the
/// space given is cut to it and the rest is lost, as with `recvfrom`; ask for 65,507 bytes to
/// get any UDP datagram whole.
extension EventLoop {
    /// Receives one datagram of at most `maxCount` bytes and the address it came from.
    /// asyncio: `loop.sock_recvfrom(sock, bufsize)`.
    ///
    /// The address of an unnamed Unix-domain sender is `.unix(path: "")`.
    ///
    /// - Throws: `SocketError` (`.invalidArgument` for a negative count, `.closed`,
    ///   `.connectionRefused` on a connected UDP socket whose peer port is closed),
    ///   `CancellationError`, `EventLoopError` (`.closed`, `.fileDescriptorBusy`).
    public func sockRecvFrom(_ fd: Int32, _ maxCount: Int) async throws -> (bytes: [UInt8], address: SocketAddress) {
        guard maxCount >= 0 else { throw SocketError.invalidArgument("negative byte count \(maxCount)") }
        var bytes = [UInt8](repeating: 0, count: maxCount)
        while true {
            let received = try bytes.withUnsafeMutableBytes { buffer throws(SocketError) in
                try Self.receiveFromNow(fd, into: buffer)
            }
            if let (count, address) = received {
                bytes.removeSubrange(count...)
                return (bytes, address)
            }
            try await waitUntilReady(fd, forWriting: false)
        }
    }

    /// Receives one datagram into the start of `buffer`, at most `maxCount` bytes (0: the whole
    /// buffer), and returns how many bytes and where they came from; the buffer's other bytes
    /// are left as they were. asyncio: `loop.sock_recvfrom_into(sock, buf, nbytes=0)`. No
    /// allocation.
    ///
    /// - Throws: `SocketError.invalidArgument` when `maxCount` is negative or larger than the
    ///   buffer (asyncio: `ValueError`); otherwise as `sockRecvFrom`.
    public func sockRecvFromInto(_ fd: Int32, _ buffer: inout [UInt8], _ maxCount: Int = 0)
        async throws -> (count: Int, address: SocketAddress) {
        guard maxCount >= 0, maxCount <= buffer.count else {
            throw SocketError.invalidArgument("byte count \(maxCount) for a buffer of \(buffer.count)")
        }
        let limit = maxCount == 0 ? buffer.count : maxCount
        while true {
            let received = try buffer.withUnsafeMutableBytes { pointer throws(SocketError) in
                try Self.receiveFromNow(fd, into: UnsafeMutableRawBufferPointer(rebasing: pointer[..<limit]))
            }
            if let received { return received }
            try await waitUntilReady(fd, forWriting: false)
        }
    }

    /// Receives one datagram into `buffer`; see `sockRecvFromInto(_:_:_:)`. The buffer must
    /// stay valid until this returns.
    public func sockRecvFromInto(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer)
        async throws -> (count: Int, address: SocketAddress) {
        while true {
            if let received = try Self.receiveFromNow(fd, into: buffer) { return received }
            try await waitUntilReady(fd, forWriting: false)
        }
    }

    /// Sends `bytes` as one datagram to `address`; returns how many bytes were sent (all of
    /// them: a datagram goes whole or not at all). asyncio: `loop.sock_sendto(sock, data,
    /// address)`. Waits while the socket has no room (a full send buffer; for a Unix-domain
    /// datagram socket, a receiver whose queue is full: then it tries again every millisecond
    /// or so, see `waitForRoom`).
    ///
    /// - Throws: `SocketError` (`.invalidAddress`; `.system("sendto", EMSGSIZE)` for a datagram
    ///   too long for the socket; `.unreachable`; `.connectionRefused` for a Unix path nobody is
    ///   bound to; `.closed`), `CancellationError` (nothing was sent), `EventLoopError`.
    @discardableResult
    public func sockSendTo(_ fd: Int32, _ bytes: [UInt8], _ address: SocketAddress) async throws -> Int {
        var afterWakeUp = false
        while true {
            let sent = try bytes.withUnsafeBytes { buffer throws(SocketError) in
                try Self.sendToNow(fd, buffer, address)
            }
            if let sent { return sent }
            try await waitForRoom(fd, afterWakeUp: &afterWakeUp)
        }
    }

    /// Sends `buffer` as one datagram to `address`; see `sockSendTo(_:_:_:)`. The buffer must
    /// stay valid until this returns.
    @discardableResult
    public func sockSendTo(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ address: SocketAddress) async throws -> Int {
        var afterWakeUp = false
        while true {
            if let sent = try Self.sendToNow(fd, buffer, address) { return sent }
            try await waitForRoom(fd, afterWakeUp: &afterWakeUp)
        }
    }

    /// Waits until `fd` may take a datagram, after a `sendto` that found no room.
    ///
    /// Linux reports an unconnected Unix-domain datagram socket writable while its receiver's
    /// queue is full (`net.unix.max_dgram_qlen`), and `sendto` still answers EAGAIN: waiting for
    /// readiness alone would retry at every iteration, spinning the loop until the receiver
    /// reads (asyncio's `sock_sendto` does). So a wake-up that found no room is followed by a
    /// 1 ms sleep, and the wait after that is for readiness again: such a sender tries about
    /// twice a millisecond; one whose buffer is really full waits for the kernel's word.
    private func waitForRoom(_ fd: Int32, afterWakeUp: inout Bool) async throws {
        if afterWakeUp {
            // On the caller's loop's timer when it runs on a loop: `Task.sleep` wakes up through
            // Swift's global pool, which a blocked neighbour can keep from ever running it.
            try await sleepOnTimer(0.001)
        } else {
            try await waitUntilReady(fd, forWriting: true)
        }
        afterWakeUp.toggle()
    }

    /// One non-blocking `recvfrom`: the count and the sender, or nil when no datagram is there.
    /// A zero-length buffer still takes a datagram (and drops its bytes), as `recvfrom` does.
    package static func receiveFromNow(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer)
        throws(SocketError) -> (count: Int, address: SocketAddress)? {
        while true {
            let (count, code, address) = SocketAddress.receiving {
                recvfrom(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT), $0, $1)
            }
            // An unnamed Unix-domain sender leaves only the family (or nothing) filled.
            if count >= 0 { return (count, address ?? .unix(path: "")) }
            switch code {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR: continue
            default: throw SocketError(errno: code, call: "recvfrom")
            }
        }
    }

    /// One non-blocking `sendto`: the count sent, or nil when the socket has no room now.
    /// `MSG_NOSIGNAL`: never a SIGPIPE.
    package static func sendToNow(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ address: SocketAddress)
        throws(SocketError) -> Int? {
        while true {
            let (count, code) = try address.withSockAddr { raw, length in
                let count = sendto(fd, buffer.baseAddress, buffer.count,
                                   Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL), raw, length)
                return (count, errno)
            }
            if count >= 0 { return count }
            switch code {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR: continue
            default: throw SocketError(errno: code, call: "sendto")
            }
        }
    }
}
