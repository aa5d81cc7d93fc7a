#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which address families a resolution returns.
public enum AddressFamily: Sendable, Hashable {
    /// IPv4 and IPv6 (`AF_UNSPEC`).
    case any
    case ipv4
    case ipv6

    var value: Int32 {
        switch self {
        case .any: AF_UNSPEC
        case .ipv4: AF_INET
        case .ipv6: AF_INET6
        }
    }
}

extension EventLoop {
    /// The stream-socket addresses of `host` and `port`, in the resolver's order.
    /// asyncio: `loop.getaddrinfo(host, port, type=SOCK_STREAM)`.
    ///
    /// A numeric host ("127.0.0.1", "::1") is converted at once, without the resolver. A name
    /// ("localhost", a DNS name) is resolved by `getaddrinfo` on the loop's default executor
    /// (`runInExecutor`), as asyncio does, so the loop never blocks on DNS. A nil host means the
    /// wildcard addresses (`AI_PASSIVE`: for `startServer`).
    ///
    /// - Throws: `SocketError.resolutionFailed` (getaddrinfo's message), `.invalidAddress` for a
    ///   port out of range; `EventLoopError.defaultExecutorShutDown`; `CancellationError` (the
    ///   lookup itself finishes on its thread and is dropped).
    public func getAddressInfo(host: String?, port: Int, family: AddressFamily = .any) async throws -> [SocketAddress] {
        guard (0...65535).contains(port) else { throw SocketError.invalidAddress("port \(port) out of range") }
        if let host, let numeric = Self.numericAddress(host, port: port, family: family) { return [numeric] }
        return try await runInExecutor { try Self.resolve(host: host, port: port, family: family) }
    }

    /// `host` as a numeric address of `family`, or nil when it is not one.
    package static func numericAddress(_ host: String, port: Int, family: AddressFamily) -> SocketAddress? {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        if family != .ipv6, inet_pton(AF_INET, host, &ipv4) == 1 { return .ipv4(host: host, port: port) }
        let bare = host.split(separator: "%", maxSplits: 1).first.map(String.init) ?? host
        if family != .ipv4, inet_pton(AF_INET6, bare, &ipv6) == 1 { return .ipv6(host: host, port: port) }
        return nil
    }

    /// Blocking `getaddrinfo`: run it off the loop.
    package static func resolve(host: String?, port: Int, family: AddressFamily) throws(SocketError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = family.value
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = host == nil ? AI_PASSIVE : AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0 else {
            throw .resolutionFailed(host: host ?? "*", message: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let address = current.pointee.ai_addr.flatMap({ SocketAddress($0, length: current.pointee.ai_addrlen) }),
               !addresses.contains(address) {
                addresses.append(address)
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            throw .resolutionFailed(host: host ?? "*", message: "no stream-socket address")
        }
        return addresses
    }
}
