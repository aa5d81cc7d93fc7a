#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The function a server calls for each connection, in a new task on the connection's loop.
/// asyncio: `client_connected_cb`.
public typealias ClientConnectedHandler = @Sendable (StreamReader, StreamWriter) async throws -> Void

extension EventLoop {
    /// Connects to `host`:`port` and returns the connection's two halves, running on this loop.
    /// asyncio: `asyncio.open_connection(host, port, limit=...)`.
    ///
    /// The host is resolved off the loop (`getAddressInfo`); its addresses are tried in the
    /// resolver's order until one accepts, as asyncio does without happy eyeballs.
    ///
    /// Keep the writer for as long as the connection is used: a dropped writer closes the
    /// connection (asyncio's `StreamWriter.__del__`), so `let (reader, _) = try await
    /// openConnection(...)` closes it at once (Python's `_` would keep the writer alive).
    ///
    /// `localAddress` (asyncio's `local_addr`, numeric here) binds the socket before it
    /// connects; only the host's addresses of its family are tried then.
    ///
    /// - Throws: the last address's `SocketError` (`.connectionRefused`, ...) when none accepts;
    ///   `SocketError.resolutionFailed`; `SocketError.invalidArgument` when no address of the
    ///   host has the local address's family; `.addressInUse` when the local address is taken;
    ///   `StreamError.invalidLimit`; `CancellationError` (the half-open socket is closed).
    public func openConnection(host: String, port: Int, limit: Int = StreamReader.defaultLimit,
                               family: AddressFamily = .any, localAddress: SocketAddress? = nil) async throws
        -> (reader: StreamReader, writer: StreamWriter) {
        var addresses = try await getAddressInfo(host: host, port: port, family: family)
        if let localAddress {
            addresses.removeAll { $0.family != localAddress.family }
            guard !addresses.isEmpty else {
                throw SocketError.invalidArgument("no address of \(host) has the family of \(localAddress)")
            }
        }
        var lastError: (any Error)?
        for address in addresses {
            do {
                return try await openConnection(to: address, limit: limit, localAddress: localAddress)
            } catch let error as SocketError {
                lastError = error
            }
        }
        throw lastError ?? SocketError.resolutionFailed(host: host, message: "no address")
    }

    /// Connects to the Unix socket at `path`. asyncio: `asyncio.open_unix_connection(path)`.
    public func openUnixConnection(path: String, limit: Int = StreamReader.defaultLimit) async throws
        -> (reader: StreamReader, writer: StreamWriter) {
        try await openConnection(to: .unix(path: path), limit: limit)
    }

    /// Connects to `address` (numeric, or a Unix path), from `localAddress` if given (of the
    /// same family). Throws as `openConnection(host:port:)`.
    public func openConnection(to address: SocketAddress, limit: Int = StreamReader.defaultLimit,
                               localAddress: SocketAddress? = nil) async throws
        -> (reader: StreamReader, writer: StreamWriter) {
        guard limit > 0 else { throw StreamError.invalidLimit(limit) }
        if let localAddress, localAddress.family != address.family {
            throw SocketError.invalidArgument("local address \(localAddress) for \(address)")
        }
        let fd = try Socket.makeStream(for: address)
        do {
            if let localAddress { try Socket.bind(fd, to: localAddress) }
            try await sockConnect(fd, address)
            return try makeStreams(connectedTo: fd, limit: limit)
        } catch {
            sockClose(fd)
            throw error
        }
    }

    /// The reader and writer of `socket`, a connected stream socket made elsewhere (a
    /// `socketpair`, an inherited fd), running on this loop. asyncio:
    /// `asyncio.open_connection(sock=sock)`.
    ///
    /// The socket is made non-blocking (and close-on-exec, with `TCP_NODELAY` for TCP), and the
    /// streams own it from here on: close it with the writer, not with `close(2)`.
    ///
    /// - Throws: `SocketError.invalidArgument` for a socket that is not a stream socket or not
    ///   connected, `.closed` for an fd that is not open (the caller keeps the fd then);
    ///   `StreamError.invalidLimit`.
    public func openConnection(socket fd: Int32, limit: Int = StreamReader.defaultLimit) throws
        -> (reader: StreamReader, writer: StreamWriter) {
        guard limit > 0 else { throw StreamError.invalidLimit(limit) }
        _ = try Socket.adoptStream(fd, listening: false)
        return try makeStreams(connectedTo: fd, limit: limit)
    }

    /// The reader and writer of the connected socket `fd`, on this loop, reading at once. The
    /// streams own the fd from here on (also when this throws: it is closed then).
    /// asyncio: `StreamReaderProtocol` + `_SelectorSocketTransport` set up by `create_connection`.
    package func makeStreams(connectedTo fd: Int32, limit: Int) throws -> (reader: StreamReader, writer: StreamWriter) {
        let reader: StreamReader
        do {
            reader = try StreamReader(limit: limit, loop: self)
        } catch {
            sockClose(fd)
            throw error
        }
        let transport = StreamTransport(loop: self, fd: fd, reader: reader)
        // The reader's loop-thread state, set here on whatever thread connects: nobody else holds
        // the reader yet, and the loop first touches it in a reader callback, which it finds
        // under the watch lock that `start()` takes after this write (happens-before).
        reader.transport = transport
        do {
            try transport.start()
        } catch {
            transport.connectionLost(error)
            throw error
        }
        return (reader, StreamWriter(transport: transport))
    }

    /// Starts a server that accepts connections on `host`:`port` and runs `clientConnected` for
    /// each, in a new task on this loop. asyncio: `asyncio.start_server(client_connected_cb,
    /// host, port, limit=..., backlog=..., reuse_port=...)`.
    ///
    /// A nil host listens on every interface; a name ("localhost") on each of its addresses.
    /// Port 0 lets the kernel choose (one port for all of them: read it from `Server.addresses`).
    /// The server is serving when this returns; with `startServing: false` it listens but
    /// accepts nothing until `Server.startServing()` or `serveForever()` (asyncio's
    /// `start_serving=False`; connections wait in the backlog meanwhile, difference 64).
    ///
    /// An error thrown by `clientConnected` goes to the loop's exception handler and closes that
    /// connection, as asyncio does; a handler that ends cancelled closes its connection and
    /// reports nothing (asyncio: a cancelled `client_connected_cb` task).
    ///
    /// - Throws: `SocketError` (`.addressInUse`, `.resolutionFailed`, ...), `StreamError.invalidLimit`.
    public func startServer(host: String?, port: Int, limit: Int = StreamReader.defaultLimit,
                            backlog: Int32 = 100, reusePort: Bool = false, startServing: Bool = true,
                            _ clientConnected: @escaping ClientConnectedHandler) async throws -> Server {
        try await Server.start(loops: [self], host: host, port: port, limit: limit, backlog: backlog,
                               reusePort: reusePort, serving: startServing, handler: clientConnected)
    }

    /// Starts a server on `socket`, a bound stream socket made elsewhere (TCP or Unix; an
    /// inherited fd, say). asyncio: `asyncio.start_server(cb, sock=sock)`.
    ///
    /// The server calls `listen(backlog)` on it, makes it non-blocking and owns it from here on;
    /// a Unix socket's file is removed when the server closes, as for `startUnixServer` (Python
    /// 3.13). A socket this refuses stays the caller's.
    ///
    /// - Throws: `SocketError.invalidArgument` for a socket that is not a stream socket, or a
    ///   Unix socket not bound to a path; `.closed` for an fd that is not open;
    ///   `StreamError.invalidLimit`.
    public func startServer(socket fd: Int32, limit: Int = StreamReader.defaultLimit, backlog: Int32 = 100,
                            startServing: Bool = true,
                            _ clientConnected: @escaping ClientConnectedHandler) throws -> Server {
        try Server.start(loops: [self], listener: fd, limit: limit, backlog: backlog, serving: startServing,
                         handler: clientConnected)
    }

    /// Starts a server on the Unix socket at `path`. asyncio: `asyncio.start_unix_server(cb, path)`.
    /// A stale socket file at `path` is replaced; the file is removed when the server closes.
    public func startUnixServer(path: String, limit: Int = StreamReader.defaultLimit, backlog: Int32 = 100,
                                startServing: Bool = true,
                                _ clientConnected: @escaping ClientConnectedHandler) async throws -> Server {
        try Server.start(loops: [self], address: .unix(path: path), limit: limit, backlog: backlog,
                         serving: startServing, handler: clientConnected)
    }
}

extension LoopGroup {
    /// Starts a server whose connections are spread over the group's loops, round-robin, each
    /// connection staying on its loop for its whole life (see `Server` for why one acceptor).
    /// The same parameters and rules as `EventLoop.startServer`.
    public func startServer(host: String?, port: Int, limit: Int = StreamReader.defaultLimit,
                            backlog: Int32 = 100, startServing: Bool = true,
                            _ clientConnected: @escaping ClientConnectedHandler) async throws -> Server {
        try await Server.start(loops: loops, host: host, port: port, limit: limit, backlog: backlog,
                               reusePort: false, serving: startServing, handler: clientConnected)
    }

    /// `startServer` on the Unix socket at `path`.
    public func startUnixServer(path: String, limit: Int = StreamReader.defaultLimit, backlog: Int32 = 100,
                                startServing: Bool = true,
                                _ clientConnected: @escaping ClientConnectedHandler) async throws -> Server {
        try Server.start(loops: loops, address: .unix(path: path), limit: limit, backlog: backlog,
                         serving: startServing, handler: clientConnected)
    }

    /// `startServer` on `socket`, a bound stream socket made elsewhere; see
    /// `EventLoop.startServer(socket:limit:backlog:_:)`.
    public func startServer(socket fd: Int32, limit: Int = StreamReader.defaultLimit, backlog: Int32 = 100,
                            startServing: Bool = true,
                            _ clientConnected: @escaping ClientConnectedHandler) throws -> Server {
        try Server.start(loops: loops, listener: fd, limit: limit, backlog: backlog, serving: startServing,
                         handler: clientConnected)
    }
}

/// `asyncio.open_connection(host, port)`: `openConnection` on the running loop.
/// - Throws: `EventLoopError.noRunningLoop` outside a loop's task; the rest as
///   `EventLoop.openConnection(host:port:limit:family:)`.
public func openConnection(host: String, port: Int, limit: Int = StreamReader.defaultLimit) async throws
    -> (reader: StreamReader, writer: StreamWriter) {
    try await getRunningLoop().openConnection(host: host, port: port, limit: limit)
}

/// `asyncio.open_unix_connection(path)`: `openUnixConnection` on the running loop.
public func openUnixConnection(path: String, limit: Int = StreamReader.defaultLimit) async throws
    -> (reader: StreamReader, writer: StreamWriter) {
    try await getRunningLoop().openUnixConnection(path: path, limit: limit)
}

/// `asyncio.start_server(cb, host, port)`: `startServer` on the running loop.
public func startServer(host: String?, port: Int, limit: Int = StreamReader.defaultLimit,
                        _ clientConnected: @escaping ClientConnectedHandler) async throws -> Server {
    try await getRunningLoop().startServer(host: host, port: port, limit: limit, clientConnected)
}

/// `asyncio.start_unix_server(cb, path)`: `startUnixServer` on the running loop.
public func startUnixServer(path: String, limit: Int = StreamReader.defaultLimit,
                            _ clientConnected: @escaping ClientConnectedHandler) async throws -> Server {
    try await getRunningLoop().startUnixServer(path: path, limit: limit, clientConnected)
}

/// `asyncio.open_connection(sock=sock)`: `openConnection(socket:)` on the running loop.
public func openConnection(socket fd: Int32, limit: Int = StreamReader.defaultLimit) throws
    -> (reader: StreamReader, writer: StreamWriter) {
    try getRunningLoop().openConnection(socket: fd, limit: limit)
}

/// `asyncio.start_server(cb, sock=sock)`: `startServer(socket:)` on the running loop.
public func startServer(socket fd: Int32, limit: Int = StreamReader.defaultLimit,
                        _ clientConnected: @escaping ClientConnectedHandler) throws -> Server {
    try getRunningLoop().startServer(socket: fd, limit: limit, clientConnected)
}
