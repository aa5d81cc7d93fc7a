#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMultiLoopSystem

/// Making, naming and configuring the non-blocking sockets the loop's socket operations use:
/// stream sockets here, datagram sockets in `Socket+Datagrams.swift`. Every socket made here is
/// non-blocking and close-on-exec.
///
/// asyncio has the `socket` module for this; these are the few calls a program needs around
/// `sockConnect`, `sockAccept`, `openConnection` and `startServer`. The caller owns the returned
/// descriptor: close it with `EventLoop.sockClose(_:)` (or `Glibc.close` when no loop waits on it).
public enum Socket {
    /// A new non-blocking TCP (or, for `.unix`, Unix-domain) stream socket of the address's family.
    /// TCP sockets get `TCP_NODELAY` (asyncio sets it on every TCP transport).
    public static func makeStream(for address: SocketAddress) throws(SocketError) -> Int32 {
        let fd = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                                  | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(errno: errno, call: "socket") }
        if address.family != AF_UNIX { setOption(fd, Int32(IPPROTO_TCP), Int32(TCP_NODELAY), 1) }
        return fd
    }

    /// A listening socket bound to `address` (port 0: the kernel picks one; read it back with
    /// `localAddress`). asyncio: what `loop.create_server` does to each of its sockets.
    ///
    /// TCP: `SO_REUSEADDR` (as asyncio's default on Unix), `IPV6_V6ONLY` for IPv6 (as asyncio),
    /// `SO_REUSEPORT` when `reusePort`. Unix: a stale socket file at the path (a socket nobody
    /// listens on any more) is removed first, as asyncio's `start_unix_server` does; any other
    /// file there makes the bind fail (`addressInUse`).
    public static func listen(on address: SocketAddress, backlog: Int32 = 100,
                              reusePort: Bool = false) throws(SocketError) -> Int32 {
        let fd = try makeStream(for: address)
        do throws(SocketError) {
            switch address {
            case .ipv4, .ipv6:
                setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
                if reusePort { setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
                if case .ipv6 = address { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            case .unix(let path):
                removeStaleUnixSocket(at: path)
            }
            try bind(fd, to: address)
            guard Glibc.listen(fd, backlog) == 0 else { throw SocketError(errno: errno, call: "listen") }
            return fd
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Binds `fd` to `address` (port 0: the kernel picks one; `localAddress` says which).
    /// asyncio: `sock.bind(address)`.
    ///
    /// - Throws: `SocketError.addressInUse` (a Unix path that exists, a port taken),
    ///   `.invalidAddress`, `.closed` for a closed fd, `.system("bind", errno)`.
    public static func bind(_ fd: Int32, to address: SocketAddress) throws(SocketError) {
        let code = try address.withSockAddr { Glibc.bind(fd, $0, $1) == 0 ? 0 : errno }
        guard code == 0 else { throw SocketError(errno: code, call: "bind") }
    }

    /// Accepts one pending connection on the listening socket `fd` without blocking: the
    /// connection (non-blocking, close-on-exec, TCP_NODELAY; the caller owns it) and its peer's
    /// address, or nil when none is pending. For accept loops in `addReader` callbacks; tasks use
    /// `EventLoop.sockAccept`. Retries EINTR and skips connections that died in the queue
    /// (ECONNABORTED, EPROTO), as asyncio does. asyncio: `sock.accept()` on a non-blocking socket.
    ///
    /// - Throws: `SocketError` (`.system("accept", EMFILE)` when out of descriptors, `.closed`).
    public static func accept(_ fd: Int32) throws(SocketError) -> (fd: Int32, address: SocketAddress)? {
        while true {
            let (result, code, address) = SocketAddress.receiving { Int(ml_accept4_nonblocking(fd, $0, $1)) }
            let accepted = Int32(result)
            if accepted >= 0 {
                if address?.family != AF_UNIX {
                    Socket.setOption(accepted, Int32(IPPROTO_TCP), Int32(TCP_NODELAY), 1)
                }
                return (accepted, address ?? .unix(path: ""))
            }
            switch code {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR, ECONNABORTED, EPROTO: continue
            default: throw SocketError(errno: code, call: "accept")
            }
        }
    }


    /// Takes a stream socket made elsewhere (`open_connection(sock=)`, `start_server(sock=)`):
    /// checks that it is a stream socket, connected (or, with `listening`, bound), makes it
    /// non-blocking and close-on-exec, gives TCP `TCP_NODELAY`, and with `listening` calls
    /// `listen(backlog)` (again, if it already listens: that only sets the backlog, as asyncio
    /// does). Returns its local address (`listening`) or its peer's.
    ///
    /// - Throws: `SocketError.invalidArgument` for a socket that is not a stream socket, not
    ///   connected or not bound (asyncio: `ValueError`, or `OSError` later); `.closed` for an fd
    ///   that is not open; what `listen` and `fcntl` answer.
    package static func adoptStream(_ fd: Int32, listening: Bool, backlog: Int32 = 100) throws(SocketError) -> SocketAddress {
        guard try isStream(fd) else { throw .invalidArgument("fd \(fd) is not a stream socket") }
        let address: SocketAddress
        if listening {
            if case .unix(let path) = try localAddress(fd), path.isEmpty {
                throw .invalidArgument("Unix socket \(fd) is not bound to a path")
            }
            guard Glibc.listen(fd, backlog) == 0 else { throw SocketError(errno: errno, call: "listen") }
            address = try localAddress(fd)  // after listen: an unbound TCP socket has a port now
        } else {
            do {
                address = try peerAddress(fd)
            } catch .system(_, ENOTCONN) {
                throw .invalidArgument("socket \(fd) is not connected")
            }
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError(errno: errno, call: "fcntl") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        if address.family != AF_UNIX { setOption(fd, Int32(IPPROTO_TCP), Int32(TCP_NODELAY), 1) }
        return address
    }

    /// The address a socket is bound to (`getsockname`). asyncio: `sock.getsockname()`.
    public static func localAddress(_ fd: Int32) throws(SocketError) -> SocketAddress {
        try address(fd, call: "getsockname") { getsockname(fd, $0, $1) }
    }

    /// The address of a connected socket's peer (`getpeername`). asyncio: `sock.getpeername()`.
    public static func peerAddress(_ fd: Int32) throws(SocketError) -> SocketAddress {
        try address(fd, call: "getpeername") { getpeername(fd, $0, $1) }
    }

    private static func address(_ fd: Int32, call: String,
                                _ get: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32)
        throws(SocketError) -> SocketAddress {
        let (rc, code, address) = SocketAddress.receiving { Int(get($0, $1)) }
        guard rc == 0 else { throw SocketError(errno: code, call: call) }
        guard let address else { throw .invalidAddress("unsupported address family") }
        return address
    }

    /// Whether `fd` is a stream socket (`SO_TYPE`). Throws `.invalidArgument` for an fd that is
    /// not a socket, `.closed` for one that is not open.
    package static func isStream(_ fd: Int32) throws(SocketError) -> Bool {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else {
            let code = errno
            throw code == ENOTSOCK ? .invalidArgument("fd \(fd) is not a socket") : SocketError(errno: code, call: "getsockopt")
        }
        return type == Int32(SOCK_STREAM.rawValue)
    }

    /// Whether `fd` is in non-blocking mode. Throws `.closed` for a closed fd.
    package static func isNonBlocking(_ fd: Int32) throws(SocketError) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { throw SocketError(errno: errno, call: "fcntl") }
        return flags & O_NONBLOCK != 0
    }

    /// The pending error of a socket (`SO_ERROR`): 0, or the errno of a failed connect.
    package static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) != 0 { return errno }
        return value
    }

    @discardableResult
    package static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var value = value
        return setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    private static func removeStaleUnixSocket(at path: String) {
        guard path.utf8.first != 0 else { return }  // abstract: no file
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return }
        // A socket file: remove it only if nobody accepts connections on it.
        let probe = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { Glibc.close(probe) }
        let connected = (try? SocketAddress.unix(path: path).withSockAddr { Glibc.connect(probe, $0, $1) }) ?? -1
        if connected != 0 && errno == ECONNREFUSED { unlink(path) }
    }
}
