#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a socket operation failed: the system's answer, sorted into the cases a caller handles
/// differently, and the misuses MultiLoop refuses.
///
/// asyncio equivalent: the `OSError` subclasses (`ConnectionRefusedError`,
/// `ConnectionResetError`, `BrokenPipeError`, `TimeoutError`, `socket.gaierror`) and the
/// `ValueError`s of the `sock_*` methods. Cancellation is not a socket error: a cancelled
/// operation throws `CancellationError`.
public enum SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nobody listens at the address (ECONNREFUSED). asyncio: `ConnectionRefusedError`.
    case connectionRefused
    /// The peer reset the connection (ECONNRESET). asyncio: `ConnectionResetError`.
    case connectionReset
    /// Writing to a connection whose peer has closed it (EPIPE; never a SIGPIPE).
    /// asyncio: `BrokenPipeError`.
    case brokenPipe
    /// The connection attempt or the connection timed out (ETIMEDOUT). asyncio: `TimeoutError`.
    case timedOut
    /// The address is taken (EADDRINUSE).
    case addressInUse
    /// The network or host cannot be reached (ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL).
    case unreachable
    /// The operation needs a non-blocking socket and `fd` is blocking: it would block the loop's
    /// thread. asyncio (debug mode): `ValueError("the socket must be non-blocking")`.
    case blockingSocket(Int32)
    /// A numeric address, port or Unix path that is not valid.
    case invalidAddress(String)
    /// A negative count or size. asyncio: `ValueError`.
    case invalidArgument(String)
    /// Resolving a host name failed (getaddrinfo's message). asyncio: `socket.gaierror`.
    case resolutionFailed(host: String, message: String)
    /// The socket was closed (by `sockClose`, a transport's `close`, or a closed fd, EBADF) while
    /// or before the operation used it.
    case closed
    /// Any other failure of a system call: its name and errno.
    case system(String, Int32)

    /// The case for `code`, the errno of system call `call`.
    package init(errno code: Int32, call: String) {
        switch code {
        case ECONNREFUSED: self = .connectionRefused
        case ECONNRESET, ECONNABORTED: self = .connectionReset
        case EPIPE: self = .brokenPipe
        case ETIMEDOUT: self = .timedOut
        case EADDRINUSE: self = .addressInUse
        case ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL: self = .unreachable
        case EBADF: self = .closed
        default: self = .system(call, code)
        }
    }

    public var description: String {
        switch self {
        case .connectionRefused: "connection refused"
        case .connectionReset: "connection reset by peer"
        case .brokenPipe: "broken pipe: the peer closed the connection"
        case .timedOut: "timed out"
        case .addressInUse: "address already in use"
        case .unreachable: "network or host unreachable"
        case .blockingSocket(let fd): "socket \(fd) must be non-blocking"
        case .invalidAddress(let message): "invalid address: \(message)"
        case .invalidArgument(let message): "invalid argument: \(message)"
        case .resolutionFailed(let host, let message): "cannot resolve \(host): \(message)"
        case .closed: "the socket is closed"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}
