#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import _MultiLoopEventLoop
import _MultiLoopSystem

/// A listening server from `startServer`: it accepts connections and runs its handler for each,
/// in a task on the connection's loop. asyncio equivalent: `asyncio.Server`.
///
/// ## One acceptor, connections spread round-robin
/// The listening sockets are watched by one loop, the acceptor (the first of `loops`). Each
/// accepted connection goes to the next loop in turn (handed over with `execute`, one hop per
/// connection) and stays on it: its reads, writes and handler task all run there. This is
/// SwiftNIO's design (a server channel on one loop, child channels on the group). The other
/// choice, a listening socket per loop with `SO_REUSEPORT`, lets the kernel spread connections
/// by a hash of their addresses: no hop, but uneven for a few connections (4 clients on 4 loops
/// often land 2-1-1-0), unavailable for Unix sockets, and a closed listener drops the
/// connections queued on it. The hop costs microseconds per connection, not per message.
///
/// ## Threads
/// `close`, `closeClients`, `abortClients`, `waitClosed`, `serveForever` and the properties may be
/// used from any thread or task. The listening fds are accepted from and closed on the acceptor's
/// thread only, so a close never races an `accept` on a reused descriptor number; the state
/// below is guarded by `lock`.
public final class Server: @unchecked Sendable, CustomStringConvertible {
    /// The loops connections run on (one for `EventLoop.startServer`, the group's for
    /// `LoopGroup.startServer`).
    public let loops: [EventLoop]
    /// The addresses the server listens on (with the kernel's port when 0 was asked).
    /// asyncio: `[s.getsockname() for s in server.sockets]`.
    public let addresses: [SocketAddress]

    private var acceptor: EventLoop { loops[0] }
    private let listeners: [Int32]
    private let handler: ClientConnectedHandler
    private let limit: Int
    private let backlog: Int32
    /// A Unix server's socket file, which `close` removes (if it is still this one).
    private let unixSocketFile: UnixSocketFile?

    private let lock = PThreadMutex()
    // Guarded by `lock`:
    /// Not closed yet (`close()` sets it false).
    private var open = true
    /// The listeners are watched: connections are accepted (`startServing`).
    private var accepting = false
    private var listenersClosed = false
    private var connections: [ObjectIdentifier: WeakTransport] = [:]
    /// Accepted and handed to their loop, not yet attached there (they count as open: `waitClosed`
    /// waits for them, and `closeClients` reaches them when they arrive).
    private var inFlight = 0
    /// What `closeClients` / `abortClients` asked of connections still in flight.
    private var closingClients: ClientsClosing = .none
    private var accepted = 0
    /// The next loop to give a connection; acceptor thread only.
    private var nextLoop = 0

    /// Set once the listeners are closed and every connection is closed.
    private let allClosed = Event()
    /// Set once the listeners are closed (what `serveForever` waits for).
    private let stopped = Event()

    private init(loops: [EventLoop], listeners: [Int32], addresses: [SocketAddress], limit: Int,
                 backlog: Int32, handler: @escaping ClientConnectedHandler) {
        unixSocketFile = addresses.lazy.compactMap(UnixSocketFile.init).first
        self.loops = loops
        self.listeners = listeners
        self.addresses = addresses
        self.limit = limit
        self.backlog = backlog
        self.handler = handler
    }

    /// Listens on every address of `host` (resolved off the loop), all on one port.
    static func start(loops: [EventLoop], host: String?, port: Int, limit: Int, backlog: Int32,
                      reusePort: Bool, serving: Bool = true,
                      handler: @escaping ClientConnectedHandler) async throws -> Server {
        guard limit > 0 else { throw StreamError.invalidLimit(limit) }
        precondition(!loops.isEmpty, "a server needs a loop")
        let resolved = try await loops[0].getAddressInfo(host: host, port: port)
        var listeners: [Int32] = []
        var addresses: [SocketAddress] = []
        do {
            var chosenPort = port
            for address in resolved {
                var bind = address
                if chosenPort != 0, address.port == 0 || port == 0 {
                    bind = address.withPort(chosenPort)
                }
                let fd = try Socket.listen(on: bind, backlog: backlog, reusePort: reusePort)
                listeners.append(fd)
                let local = try Socket.localAddress(fd)
                addresses.append(local)
                if chosenPort == 0 { chosenPort = local.port ?? 0 }
            }
        } catch {
            for fd in listeners { Glibc.close(fd) }
            throw error
        }
        return try Server(loops: loops, listeners: listeners, addresses: addresses, limit: limit,
                          backlog: backlog, handler: handler).started(serving: serving)
    }

    /// Listens on one address (a Unix socket's path).
    static func start(loops: [EventLoop], address: SocketAddress, limit: Int, backlog: Int32,
                      serving: Bool = true, handler: @escaping ClientConnectedHandler) throws -> Server {
        guard limit > 0 else { throw StreamError.invalidLimit(limit) }
        precondition(!loops.isEmpty, "a server needs a loop")
        let fd = try Socket.listen(on: address, backlog: backlog)
        return try Server(loops: loops, listeners: [fd], addresses: [address], limit: limit,
                          backlog: backlog, handler: handler).started(serving: serving)
    }

    /// Serves on `listener`, a bound stream socket the caller made (listening or not). A socket
    /// that is refused stays the caller's; once it is taken, the server owns it (and closes it
    /// if starting fails after that).
    static func start(loops: [EventLoop], listener fd: Int32, limit: Int, backlog: Int32,
                      serving: Bool = true, handler: @escaping ClientConnectedHandler) throws -> Server {
        precondition(!loops.isEmpty, "a server needs a loop")
        guard limit > 0 else { throw StreamError.invalidLimit(limit) }
        let address = try Socket.adoptStream(fd, listening: true, backlog: backlog)
        return try Server(loops: loops, listeners: [fd], addresses: [address], limit: limit,
                          backlog: backlog, handler: handler).started(serving: serving)
    }

    /// The new server, accepting at once unless `serving` is false; closed if that fails.
    private func started(serving: Bool = true) throws -> Server {
        guard serving else { return self }
        do {
            try startServing()
        } catch {
            closeListenersNow()
            throw error
        }
        return self
    }

    /// Starts accepting connections, if the server does not yet and is not closed (then it does
    /// nothing). asyncio: `await server.start_serving()`. Any thread.
    ///
    /// Until then the listening sockets are bound and listening already: connections that come
    /// wait in the backlog and are accepted now (asyncio listens only from `start_serving`, so
    /// they are refused before it).
    ///
    /// - Throws: `EventLoopError.closed` when the acceptor's loop is closed.
    public func startServing() throws(EventLoopError) {
        try lock.withLock { () throws(EventLoopError) in
            guard open, !accepting else { return }
            do throws(EventLoopError) {
                for fd in listeners {
                    try acceptor.addReader(fd) { [self] in acceptReady(fd) }
                }
            } catch {
                for fd in listeners { acceptor.removeReader(fd) }
                throw error
            }
            accepting = true
        }
    }

    // MARK: Accepting (acceptor thread)

    private func acceptReady(_ listener: Int32) {
        guard lock.withLock({ open }) else { return }
        // At most `backlog` per readiness, as asyncio: other work gets its turn.
        for _ in 0..<max(1, Int(backlog)) {
            // A handler run inline may have closed the server: its listener fd is gone.
            guard lock.withLock({ open }) else { return }
            let connection: (fd: Int32, address: SocketAddress)?
            do {
                connection = try Socket.accept(listener)
            } catch {
                // Out of descriptors (EMFILE) and the like: stop accepting for a second, as
                // asyncio does, instead of spinning on a listener that stays readable.
                acceptor.callExceptionHandler(EventLoopErrorContext(
                    message: "error while accepting a connection on \(addresses.first.map { "\($0)" } ?? "?")",
                    error: error))
                acceptor.removeReader(listener)
                _ = try? acceptor.callLater(1.0) { [self] in
                    if lock.withLock({ open }) {
                        _ = try? acceptor.addReader(listener) { [self] in acceptReady(listener) }
                    }
                }
                return
            }
            guard let connection else { return }
            let target = loops[nextLoop % loops.count]
            nextLoop &+= 1
            lock.withLock {
                inFlight += 1
                accepted += 1
            }
            if target === acceptor {
                attach(connection.fd, on: target)
            } else {
                do {
                    try target.execute { [self] in attach(connection.fd, on: target) }
                } catch {
                    Glibc.close(connection.fd)  // that loop is closed: nobody can serve it
                    landed(nil)
                }
            }
        }
    }

    /// Sets up an accepted connection on its loop and starts its handler. `loop`'s thread.
    ///
    /// A handler that throws has its error reported to the loop's exception handler ("Unhandled
    /// exception in client_connected_cb") and its connection closed; one that ends cancelled
    /// (`CancellationError`, `CancelledError`) has its connection closed and nothing reported,
    /// as asyncio's `start_server` does for a cancelled `client_connected_cb` task.
    private func attach(_ fd: Int32, on loop: EventLoop) {
        let streams: (reader: StreamReader, writer: StreamWriter)
        do {
            streams = try loop.makeStreams(connectedTo: fd, limit: limit)
        } catch {
            loop.callExceptionHandler(EventLoopErrorContext(
                message: "cannot set up an accepted connection", error: error))
            landed(nil)
            return
        }
        let transport = streams.writer.transport
        let closing = landed(transport)
        transport.onClosed = { [weak self] in self?.connectionClosed(ObjectIdentifier(transport)) }
        switch closing {
        case .none: break
        case .close: transport.close()
        case .abort: transport.abort()
        }
        let handler = self.handler
        loop.createTask(name: "connection fd=\(fd)") {
            do {
                try await handler(streams.reader, streams.writer)
            } catch where Timeout.isCancellation(error) {
                streams.writer.close()  // a cancelled handler is no error: close quietly, as asyncio
            } catch {
                loop.callExceptionHandler(EventLoopErrorContext(
                    message: "Unhandled exception in client_connected_cb", error: error))
                streams.writer.close()
            }
        }
    }

    /// A connection handed to its loop arrived there: registered (`transport`), or failed to set
    /// up (nil). Returns what `closeClients`/`abortClients` asked meanwhile.
    @discardableResult
    private func landed(_ transport: StreamTransport?) -> ClientsClosing {
        let (closing, done) = lock.withLock { () -> (ClientsClosing, Bool) in
            inFlight -= 1
            if let transport { connections[ObjectIdentifier(transport)] = WeakTransport(transport) }
            let closing = closingClients
            if inFlight == 0 { closingClients = .none }  // asked of those in flight only
            return (closing, listenersClosed && connections.isEmpty && inFlight == 0)
        }
        if done { allClosed.set() }
        return closing
    }

    private func connectionClosed(_ key: ObjectIdentifier) {
        let done = lock.withLock { () -> Bool in
            connections[key] = nil
            return listenersClosed && connections.isEmpty && inFlight == 0
        }
        if done { allClosed.set() }
    }

    // MARK: Closing

    /// Stops listening: no connection is accepted any more, the listening sockets are closed and
    /// a Unix server's socket file is removed (unless another file has replaced it since);
    /// connections already accepted go on (use `closeClients`). asyncio: `server.close()`.
    /// Idempotent.
    ///
    /// Called on the acceptor's thread (a task or callback of the server's loop, the first of a
    /// group's), it closes the sockets and removes the file before it returns, as asyncio's
    /// does: the port or path can be bound again at once. From another thread they are closed
    /// a moment later, on the acceptor's thread (`waitClosed` and `serveForever` wait for that).
    public func close() {
        let first = lock.withLock { () -> Bool in
            guard open else { return false }
            open = false
            return true
        }
        guard first else { return }
        for fd in listeners { acceptor.removeReader(fd) }
        if acceptor.isOnLoopThread {
            closeListenersNow()
            return
        }
        do {
            try acceptor.execute { [self] in closeListenersNow() }
        } catch {
            closeListenersNow()  // the acceptor is closed: nothing accepts any more
        }
    }

    private func closeListenersNow() {
        let done = lock.withLock { () -> Bool in
            guard !listenersClosed else { return false }
            listenersClosed = true
            open = false
            for fd in listeners { acceptor.sockClose(fd) }
            unixSocketFile?.removeIfUnchanged()
            return true
        }
        guard done else { return }
        stopped.set()
        if lock.withLock({ connections.isEmpty && inFlight == 0 }) { allClosed.set() }
    }

    /// Closes every open connection of this server (after sending what each has queued).
    /// asyncio 3.13: `server.close_clients()`.
    /// Connections accepted and still on their way to their loop are closed as they arrive.
    public func closeClients() {
        for transport in liveConnections(closing: .close) { transport.close() }
    }

    /// Closes every open connection at once, dropping what is queued.
    /// asyncio 3.13: `server.abort_clients()`.
    public func abortClients() {
        for transport in liveConnections(closing: .abort) { transport.abort() }
    }

    /// The open connections; those still in flight will be told `closing` when they land.
    private func liveConnections(closing: ClientsClosing) -> [StreamTransport] {
        lock.withLock {
            if inFlight > 0 && closingClients != .abort { closingClients = closing }
            return connections.values.compactMap(\.transport)
        }
    }

    /// Waits until the server is closed and every connection it accepted is closed.
    /// asyncio 3.12: `await server.wait_closed()`.
    public func waitClosed() async throws { try await allClosed.wait() }

    /// Serves until the server is closed (then returns) or the calling task is cancelled (then
    /// closes the server and throws `CancellationError`). asyncio: `await server.serve_forever()`,
    /// which raises `CancelledError` in both cases.
    public func serveForever() async throws {
        try startServing()
        do {
            try await stopped.wait()
        } catch {
            close()
            throw error
        }
    }

    /// Whether the server accepts connections: started serving and not closed.
    /// asyncio: `server.is_serving()`.
    public var isServing: Bool { lock.withLock { open && accepting } }

    /// Connections accepted so far.
    public var acceptedCount: Int { lock.withLock { accepted } }

    /// Connections accepted and not yet closed (those on their way to their loop included).
    public var activeConnections: Int { lock.withLock { connections.count + inFlight } }

    public var description: String {
        "<Server \(addresses.map(\.description).joined(separator: ", "))\(isServing ? " serving" : lock.withLock { open } ? " not serving" : " closed")>"
    }
}

/// What the server asked of connections that had not reached their loop yet.
private enum ClientsClosing { case none, close, abort }

/// A connection the server knows of without keeping it alive.
private struct WeakTransport {
    weak var transport: StreamTransport?
    init(_ transport: StreamTransport) { self.transport = transport }
}

extension SocketAddress {
    /// The same address with another port (a Unix address is unchanged).
    func withPort(_ port: Int) -> SocketAddress {
        switch self {
        case .ipv4(let host, _): .ipv4(host: host, port: port)
        case .ipv6(let host, _): .ipv6(host: host, port: port)
        case .unix: self
        }
    }
}
