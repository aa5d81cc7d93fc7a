// Opening the client's connections: blocking connect, then TCP_NODELAY and non-blocking.

import CEchoSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct SocketError: Error, CustomStringConvertible {
    var description: String
}

/// A connected TCP socket to `host:port` (the first address `getaddrinfo` gives that accepts),
/// with TCP_NODELAY set (each request is one write; Nagle's algorithm would hold back the tail of
/// a large one) and O_NONBLOCK for the epoll loop.
func connectSocket(host: String, port: Int) throws -> Int32 {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &list)
    guard rc == 0, let list else { throw SocketError(description: String(cString: gai_strerror(rc))) }
    defer { freeaddrinfo(list) }
    var lastError = ECONNREFUSED
    var entry: UnsafeMutablePointer<addrinfo>? = list
    while let address = entry {
        entry = address.pointee.ai_next
        let fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { lastError = errno; continue }
        var rc: Int32
        repeat { rc = connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) } while rc != 0 && errno == EINTR
        guard rc == 0 else { lastError = errno; close(fd); continue }
        var one: Int32 = 1
        let flags = fcntl(fd, F_GETFL)
        guard setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0,
              flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            lastError = errno
            close(fd)
            continue
        }
        return fd
    }
    throw SocketError(description: String(cString: strerror(lastError)))
}
