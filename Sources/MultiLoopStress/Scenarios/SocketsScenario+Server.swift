import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

extension SocketsScenario {
    /// One server generation: a TCP server on 127.0.0.1 (a port of the kernel's choice) and a Unix
    /// server in the scenario's folder, started together on the group under test, and retired
    /// together by a restart. It keeps the books `SocketsChecker.settle` balances once it is closed
    /// and every connection made to it has ended on both sides.
    final class Generation: @unchecked Sendable {
        let number: Int
        /// Set before the servers are closed: from then on a connection of this generation that
        /// ends by itself was lost with the restart.
        let retiring = StressFlag()
        /// Set as soon as both servers' `waitClosed` returned; and the handlers that started after
        /// that on a connection still open (`waitClosed` returned before it was closed).
        let waitClosedReturned = StressFlag()
        let handlersAfterWaitClosed = StressCounter()
        /// Handlers started and finished (the servers' loops).
        let handlersStarted = StressCounter()
        let handlersFinished = StressCounter()
        /// Client connections begun (counted before connecting: a connect in flight keeps the
        /// generation open) and ended (their books filed, or the connect failed).
        let clientsBegun = StressCounter()
        let clientsEnded = StressCounter()

        private let lock = PThreadMutex()
        // Guarded by `lock`:
        private var handlers: [(owner: SocketFrame.Owner?, received: Int)] = []
        private var clients: [SocketFrame.Owner: Int] = [:]
        private var sockets: [SocketsChecker.SocketRecord] = []

        // Set by the scenario's thread before the generation is published (the lock that
        // publishes it orders these writes before any client reads them).
        private(set) var servers: [Server] = []
        private(set) var tcpAddress = SocketAddress.unix(path: "")
        private(set) var unixAddress = SocketAddress.unix(path: "")

        // The scenario's thread only:
        /// When the retirement began, and the task that waits until both servers are closed: its
        /// value is their `activeConnections`, added up, read as soon as `waitClosed` returned.
        var retiredAt: Int64 = 0
        var closed: Future<Int>?

        init(number: Int) { self.number = number }

        /// Takes note of the servers, and of their listening sockets (found by address): returns
        /// the addresses on which none was found.
        func started(tcp: Server, unix: Server) -> [SocketAddress] {
            servers = [tcp, unix]
            tcpAddress = tcp.addresses[0]
            unixAddress = unix.addresses[0]
            var missing: [SocketAddress] = []
            for address in servers.flatMap(\.addresses) {
                let listeners = Descriptors.listeners(on: address)
                if listeners.isEmpty { missing.append(address) }
                record(sockets: listeners)
            }
            return missing
        }

        /// Drops the servers once the books are checked: their handlers refer to this generation.
        func settled() { servers = [] }

        func record(sockets more: [SocketsChecker.SocketRecord]) {
            lock.withLock { sockets += more }
        }

        func recordHandler(owner: SocketFrame.Owner?, received: Int) {
            lock.withLock { handlers.append((owner, received)) }
        }

        func recordClient(_ owner: SocketFrame.Owner, sent: Int) {
            lock.withLock { clients[owner] = sent }
        }

        var accepted: Int { servers.reduce(0) { $0 + $1.acceptedCount } }
        var active: Int { servers.reduce(0) { $0 + $1.activeConnections } }

        /// Whether every connection of this generation has ended on both sides: `waitClosed`
        /// returned, every accepted connection's handler ran and ended, the servers report none
        /// open (a handler's end does not mean its connection's fd is closed yet), and every client
        /// connection made to it ended.
        var isQuiet: Bool {
            let started = handlersStarted.value
            return closed?.isDone == true && started == accepted && handlersFinished.value == started && active == 0
                && clientsEnded.value == clientsBegun.value
        }

        /// The books, with the sockets still open now.
        func books() -> SocketsChecker.Generation {
            let openAtWaitClosed = (try? closed?.wait(timeout: 0)) ?? 0
            return lock.withLock {
                SocketsChecker.Generation(
                    number: number, openAtWaitClosed: openAtWaitClosed,
                    handlersAfterWaitClosed: handlersAfterWaitClosed.value, accepted: accepted, active: active,
                    handlers: handlers, clients: clients, stillOpen: sockets.filter(Descriptors.isOpen))
            }
        }

        /// What is still going on, for a report.
        var summary: String {
            "accepted \(accepted), open \(active), handlers \(handlersStarted.value) started / \(handlersFinished.value) finished, "
                + "client connections \(clientsBegun.value) begun / \(clientsEnded.value) ended, "
                + "waitClosed returned: \(closed?.isDone == true)"
        }
    }

    /// Starts generation `number`'s servers on the group under test. The scenario's thread.
    static func startGeneration(_ number: Int, _ shared: Shared) throws -> Generation {
        let generation = Generation(number: number)
        let group = shared.serverGroup
        let handler = echoHandler(generation, shared)
        let path = shared.folder.path + "/g\(number).sock"
        let servers = try group.submitTask(to: 0) { () async throws -> [Server] in
            let tcp = try await group.startServer(host: "127.0.0.1", port: 0, handler)
            do {
                return [tcp, try await group.startUnixServer(path: path, handler)]
            } catch {
                tcp.close()
                throw error
            }
        }.wait(timeout: stallSeconds)
        for address in generation.started(tcp: servers[0], unix: servers[1]) {
            shared.context.violation("listener not found", sequence: number,
                                     expected: "a listening socket on \(address) once its server started",
                                     seen: "none in /proc/self/fd")
        }
        return generation
    }

    /// Retires `generation`: no new connection goes to it, its servers stop listening, and their
    /// connections are closed (after what is queued is sent) or aborted. The scenario's thread.
    static func retire(_ generation: Generation, abort: Bool, _ shared: Shared) {
        generation.retiring.set()
        generation.retiredAt = monotonicNanoseconds()
        let servers = generation.servers
        for server in servers { server.close() }
        for server in servers { abort ? server.abortClients() : server.closeClients() }
        do {
            generation.closed = try shared.serverGroup.submitTask(to: 0) { () async throws -> Int in
                for server in servers { try await server.waitClosed() }
                generation.waitClosedReturned.set()
                return generation.active
            }
        } catch {
            shared.context.violation("refused", expected: "the group to accept the wait for generation "
                                         + "\(generation.number) to close", seen: "\(error)")
        }
    }

    /// The server's side of a connection: reads each message, checks it (`SocketsChecker.Requests`)
    /// and writes it back, until the client's EOF (then closes, after the replies are sent) or the
    /// connection's end. Never throws: an error ends the connection, and the client side decides
    /// whether that end was allowed.
    static func echoHandler(_ generation: Generation, _ shared: Shared) -> ClientConnectedHandler {
        { reader, writer in
            generation.handlersStarted.add()
            if generation.waitClosedReturned.isSet && !writer.isClosing { generation.handlersAfterWaitClosed.add() }
            // The connection's fd is closed on this loop's thread only: open here (not closing),
            // it is this connection's until the next suspension.
            if !writer.isClosing, let inode = Descriptors.socketInode(writer.fileDescriptor) {
                generation.record(sockets: [SocketsChecker.SocketRecord(
                    fd: writer.fileDescriptor, inode: inode,
                    what: "server side of a connection to generation \(generation.number)")])
            }
            var requests = SocketsChecker.Requests(loop: shared.serverGroup.index(of: writer.loop) ?? -1)
            do {
                while true {
                    let headerBytes: [UInt8]
                    do {
                        headerBytes = try await reader.readExactly(SocketFrame.headerSize)
                    } catch StreamError.incompleteRead(let partial, _) where partial.isEmpty {
                        break  // the client's EOF between two messages
                    }
                    let header = SocketFrame.Header(decoding: headerBytes)
                    let payload = try await reader.readExactly(header?.length ?? 0)
                    let violations = requests.receive(header: header, headerBytes: headerBytes, payload: payload)
                    if !violations.isEmpty {
                        shared.context.violations.record(violations)
                        writer.abort()  // the framing is lost
                        break
                    }
                    try writer.write(headerBytes)
                    try writer.write(payload)
                    try await writer.drain()
                }
            } catch {
                // Ended mid-message or failed: the client's abort or early close, or a restart.
            }
            writer.close()
            generation.recordHandler(owner: requests.owner, received: requests.received)
            generation.handlersFinished.add()
        }
    }
}
