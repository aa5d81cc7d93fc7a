#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Datagram sockets (UDP, Unix-domain datagrams) for `EventLoop.sockRecvFrom`,
/// `sockRecvFromInto` and `sockSendTo`.
extension Socket {
    /// A new non-blocking, close-on-exec datagram socket of the address's family, unbound: UDP
    /// for an IPv4 or IPv6 address, a Unix-domain datagram socket for `.unix`. asyncio:
    /// `socket.socket(family, socket.SOCK_DGRAM)` then `sock.setblocking(False)`.
    ///
    /// Only the family of `address` is used. Bind it with `bind(_:to:)` to receive at a known
    /// address; an unbound socket gets an ephemeral port (UDP) or stays unnamed (Unix) when it
    /// first sends.
    public static func makeDatagram(for address: SocketAddress) throws(SocketError) -> Int32 {
        let fd = Glibc.socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                                  | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(errno: errno, call: "socket") }
        if case .ipv6 = address { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        return fd
    }
}
