#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The address of a socket: an IPv4 or IPv6 host (numeric) and port, or a Unix socket's path.
///
/// asyncio equivalent: the address tuples of the `socket` module (`('127.0.0.1', 8888)`,
/// `('::1', 8888, 0, 0)`, a path string). Host names are not addresses: resolve them with
/// `EventLoop.getAddressInfo(host:port:)` (which `openConnection` and `startServer` do for you).
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// A numeric IPv4 address ("127.0.0.1") and a port (0-65535; 0 asks the kernel for one when
    /// binding).
    case ipv4(host: String, port: Int)
    /// A numeric IPv6 address ("::1", "fe80::1%eth0" with a scope) and a port.
    case ipv6(host: String, port: Int)
    /// The path of a Unix-domain socket, stream or datagram (at most 107 bytes; a leading NUL
    /// byte names an abstract socket).
    case unix(path: String)

    /// The port, for IP addresses.
    public var port: Int? {
        switch self {
        case .ipv4(_, let port), .ipv6(_, let port): port
        case .unix: nil
        }
    }

    /// The host, for IP addresses.
    public var host: String? {
        switch self {
        case .ipv4(let host, _), .ipv6(let host, _): host
        case .unix: nil
        }
    }

    public var description: String {
        switch self {
        case .ipv4(let host, let port): "\(host):\(port)"
        case .ipv6(let host, let port): "[\(host)]:\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    package var family: Int32 {
        switch self {
        case .ipv4: AF_INET
        case .ipv6: AF_INET6
        case .unix: AF_UNIX
        }
    }

    /// Calls `body` with this address as a `sockaddr` and its length.
    ///
    /// - Throws: `SocketError.invalidAddress` for a host that is not a numeric address of its
    ///   family, a port out of range, or a path too long.
    package func withSockAddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) throws(SocketError) -> T {
        var storage = sockaddr_storage()
        let length = try fill(&storage)
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Calls `call` with room for an address, as `accept`, `getsockname` or `recvfrom` take it
    /// (a zeroed `sockaddr_storage` and its length), and returns the call's result, the errno
    /// right after it, and the address it wrote: nil when the result is negative or the family
    /// is not IPv4, IPv6 or Unix.
    package static func receiving(
        _ call: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int
    ) -> (result: Int, code: Int32, address: SocketAddress?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                let result = call(raw, &length)
                let code = errno
                return (result, code, result >= 0 ? SocketAddress(raw, length: length) : nil)
            }
        }
    }

    private func fill(_ storage: inout sockaddr_storage) throws(SocketError) -> socklen_t {
        switch self {
        case .ipv4(let host, let port):
            guard (0...65535).contains(port) else { throw .invalidAddress("port \(port) out of range") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                throw .invalidAddress("not a numeric IPv4 address: \(host)")
            }
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
            }
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .ipv6(let host, let port):
            guard (0...65535).contains(port) else { throw .invalidAddress("port \(port) out of range") }
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            var numeric = host
            if let percent = host.firstIndex(of: "%") {
                numeric = String(host[..<percent])
                let scope = String(host[host.index(after: percent)...])
                address.sin6_scope_id = UInt32(scope) ?? if_nametoindex(scope)
                guard address.sin6_scope_id != 0 else { throw .invalidAddress("unknown IPv6 scope: \(scope)") }
            }
            guard inet_pton(AF_INET6, numeric, &address.sin6_addr) == 1 else {
                throw .invalidAddress("not a numeric IPv6 address: \(host)")
            }
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
            }
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        case .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard !bytes.isEmpty, bytes.count < capacity else {
                throw .invalidAddress("Unix socket path must be 1 to \(capacity - 1) bytes: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { target in
                target.copyBytes(from: bytes)
            }
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
            }
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
            // Abstract names (a leading NUL) count exactly their bytes; paths add their NUL.
            return socklen_t(pathOffset + bytes.count + (bytes.first == 0 ? 0 : 1))
        }
    }

    /// The address in `storage` (as `accept`, `getsockname` and `getaddrinfo` give it), or nil
    /// for a family other than IPv4, IPv6 and Unix.
    package init?(_ pointer: UnsafePointer<sockaddr>, length: socklen_t) {
        switch Int32(pointer.pointee.sa_family) {
        case AF_INET:
            let address = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in.self)
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var raw = address.sin_addr
            guard inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)) != nil else { return nil }
            self = .ipv4(host: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                         port: Int(UInt16(bigEndian: address.sin_port)))
        case AF_INET6:
            let address = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in6.self)
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var raw = address.sin6_addr
            guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return nil }
            var host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if address.sin6_scope_id != 0 { host += "%\(address.sin6_scope_id)" }
            self = .ipv6(host: host, port: Int(UInt16(bigEndian: address.sin6_port)))
        case AF_UNIX:
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
            let count = max(0, Int(length) - pathOffset)
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer) + pathOffset, count: count)
            var path = Array(bytes)
            if path.first != 0, let end = path.firstIndex(of: 0) { path.removeSubrange(end...) }
            self = .unix(path: String(decoding: path, as: UTF8.self))
        default:
            return nil
        }
    }
}
