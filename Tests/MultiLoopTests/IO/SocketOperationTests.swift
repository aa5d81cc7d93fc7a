#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// A listening socket on a loopback address (port chosen by the kernel), or a Unix socket in a
/// fresh temporary folder.
struct TestListener {
    let fd: Int32
    let address: SocketAddress
    private let folder: String?

    init(_ kind: Kind) throws {
        switch kind {
        case .ipv4, .ipv6:
            let bind: SocketAddress = kind == .ipv4 ? .ipv4(host: "127.0.0.1", port: 0) : .ipv6(host: "::1", port: 0)
            fd = try Socket.listen(on: bind)
            address = try Socket.localAddress(fd)
            folder = nil
        case .unix:
            var template = Array("/tmp/multiloop-test-XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
            let path = String(cString: made!)
            folder = path
            address = .unix(path: path + "/socket")
            fd = try Socket.listen(on: address)
        }
    }

    enum Kind: CaseIterable, Sendable, CustomStringConvertible {
        case ipv4, ipv6, unix
        var description: String { "\(self == .ipv4 ? "IPv4" : self == .ipv6 ? "IPv6" : "Unix")" }
    }

    /// A client socket connected to this listener through `loop` (`sockConnect`), and the
    /// connection `sockAccept` gave for it, with the peer address it reported. The caller closes
    /// both.
    func connect(on loop: EventLoop) async throws -> (client: Int32, connection: Int32, peer: SocketAddress) {
        let (fd, address) = (self.fd, self.address)
        let accept = loop.createTask { try await loop.sockAccept(fd) }
        let client = try Socket.makeStream(for: address)
        try await loop.sockConnect(client, address)
        let (connection, peer) = try await accept.value
        return (client, connection, peer)
    }

    func close() {
        Glibc.close(fd)
        if let folder, case .unix(let path) = address {
            unlink(path)
            rmdir(folder)
        }
    }
}

/// A pattern of `count` bytes, different for each `seed`.
func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ ($0 >> 8)) }
}

/// CPython's test_sock_lowlevel (sock_connect/sock_sendall/sock_recv/sock_recv_into/sock_accept,
/// their cancellation, huge content, Unix sockets) against real loopback sockets.
@Suite("socket operations (sockConnect, sockAccept, sockRecv, sockSendAll)", .timeLimit(.minutes(5)))
struct SocketOperationTests {
    @Test("connect, accept, send and receive, every byte in order", arguments: TestListener.Kind.allCases)
    func clientServerRoundTrip(kind: TestListener.Kind) throws {
        let listener = try TestListener(kind)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let server = loop.createTask { () async throws -> [UInt8] in
                let (connection, _) = try await loop.sockAccept(listener.fd)
                defer { Glibc.close(connection) }
                var received: [UInt8] = []
                while true {
                    let chunk = try await loop.sockRecv(connection, 4096)
                    if chunk.isEmpty { break }
                    received += chunk
                    try await loop.sockSendAll(connection, chunk)
                }
                return received
            }
            let client = try Socket.makeStream(for: listener.address)
            defer { Glibc.close(client) }
            try await loop.sockConnect(client, listener.address)
            let message = pattern(100_000)
            let sender = loop.createTask { try await loop.sockSendAll(client, message) }
            var echoed: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 7_001)  // odd size: partial reads
            while echoed.count < message.count {
                let count = try await loop.sockRecvInto(client, &buffer)
                #expect(count > 0)
                if count == 0 { break }
                echoed += buffer[0..<count]
            }
            try await sender.value
            shutdown(client, Int32(SHUT_WR))
            let serverGot = try await server.value
            #expect(serverGot == message)
            #expect(echoed == message)
            #expect(try await loop.sockRecv(client, 10) == [], "EOF after the server closed")
        }
    }

    @Test("the accepted connection's address and the client's agree")
    func addresses() throws {
        let listener = try TestListener(.ipv4)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (client, connection, peer) = try await listener.connect(on: loop)
            defer { Glibc.close(client); Glibc.close(connection) }
            #expect(peer == (try Socket.localAddress(client)))
            #expect((try Socket.peerAddress(client)) == listener.address)
            #expect(try Socket.isNonBlocking(connection), "accepted sockets are non-blocking")
        }
    }

    @Test("connecting where nobody listens throws .connectionRefused")
    func connectionRefused() throws {
        let listener = try TestListener(.ipv4)
        let address = listener.address
        listener.close()  // the port is free now
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let client = try Socket.makeStream(for: address)
            defer { Glibc.close(client) }
            await #expect(throws: SocketError.connectionRefused) { try await loop.sockConnect(client, address) }
            let unixClient = try Socket.makeStream(for: .unix(path: "/tmp/multiloop-nobody-\(getpid())"))
            defer { Glibc.close(unixClient) }
            await #expect(throws: SocketError.self) {
                try await loop.sockConnect(unixClient, .unix(path: "/tmp/multiloop-nobody-\(getpid())"))
            }
        }
    }

    @Test("a peer that resets the connection: .connectionReset on receive, .brokenPipe or .connectionReset on send")
    func peerReset() throws {
        let listener = try TestListener(.ipv4)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (client, connection, _) = try await listener.connect(on: loop)
            defer { Glibc.close(client) }
            // SO_LINGER 0: close sends a reset instead of a FIN.
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            Glibc.close(connection)
            await #expect(throws: SocketError.connectionReset) { _ = try await loop.sockRecv(client, 10) }
            var sendError: (any Error)?
            do {
                for _ in 0..<100 { try await loop.sockSendAll(client, pattern(1024)) }
            } catch {
                sendError = error
            }
            let socketError = sendError as? SocketError
            #expect(socketError == .brokenPipe || socketError == .connectionReset, "got \(String(describing: sendError))")
        }
    }

    @Test("a cancelled receive leaves the socket usable: the next receive gets the bytes")
    func cancelledReceive() throws {
        let pair = try SocketPair()
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let waiting = loop.createTask { try await loop.sockRecv(pair.first, 100) }
            try await sleep(0.01)
            #expect(loop.hasReader(pair.first), "the receive waits in the loop")
            waiting.cancel()
            await #expect(throws: CancelledError.self) { _ = try await waiting.value }
            #expect(!loop.hasReader(pair.first), "cancellation removed the watch")
            writeBytes(pair.second, [1, 2, 3])
            #expect(try await loop.sockRecv(pair.first, 100) == [1, 2, 3])
        }
    }

    @Test("a task cancelled before its receive waits throws at once and leaves no watch")
    func cancelledBeforeWaiting() throws {
        let pair = try SocketPair()
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let task = loop.createTask { () async throws -> [UInt8] in
                withUnsafeCurrentTask { $0?.cancel() }
                return try await loop.sockRecv(pair.first, 10)
            }
            // Bounded: a wait that cancellation never ends fails here in 5 s instead of hanging.
            var failure: (any Error)?
            do { _ = try await waitFor(5) { try await task.value } } catch { failure = error }
            #expect(failure != nil, "a cancelled receive throws")
            #expect(!(failure is TimeoutError), "the wait did not end")
            #expect(!loop.hasReader(pair.first))
            writeBytes(pair.second, [4])
            #expect(try await loop.sockRecv(pair.first, 10) == [4])
        }
    }

    @Test("a connect still in progress, cancelled, throws and leaves no watch")
    func cancelledConnect() throws {
        // A listener whose accept queue is full drops new SYNs: a connect to it stays in progress.
        let listener = try Socket.listen(on: .ipv4(host: "127.0.0.1", port: 0), backlog: 0)
        defer { Glibc.close(listener) }
        let address = try Socket.localAddress(listener)
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            var fillers: [Int32] = []
            defer { fillers.forEach { Glibc.close($0) } }
            var pending: Int32 = -1
            for _ in 0..<8 where pending < 0 {
                let fd = try Socket.makeStream(for: address)
                let rc = try address.withSockAddr { Glibc.connect(fd, $0, $1) }
                if rc != 0 && errno == EINPROGRESS {
                    usleep(50_000)
                    if Socket.pendingError(fd) == 0 && (try? Socket.peerAddress(fd)) == nil {
                        pending = fd  // still connecting: retry it through the loop
                        continue
                    }
                }
                fillers.append(fd)
            }
            #expect(pending >= 0, "the kernel kept completing connects to a full listener")
            guard pending >= 0 else { return }
            fillers.append(pending)
            // The queue is full: a fresh socket's connect stays in progress too.
            let fd = try Socket.makeStream(for: address)
            fillers.append(fd)
            let connecting = loop.createTask { try await loop.sockConnect(fd, address) }
            try await sleep(0.05)
            #expect(loop.hasWriter(fd), "the connect waits for the socket to be writable")
            connecting.cancel()
            await #expect(throws: CancelledError.self) { try await connecting.value }
            #expect(!loop.hasWriter(fd), "cancellation removed the watch")
        }
    }

    @Test("a cancelled accept leaves the listener usable")
    func cancelledAccept() throws {
        let listener = try TestListener(.unix)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let waiting = loop.createTask { try await loop.sockAccept(listener.fd) }
            try await sleep(0.01)
            waiting.cancel()
            await #expect(throws: CancelledError.self) { _ = try await waiting.value }
            let client = try Socket.makeStream(for: listener.address)
            defer { Glibc.close(client) }
            try await loop.sockConnect(client, listener.address)
            let (connection, _) = try await loop.sockAccept(listener.fd)
            Glibc.close(connection)
        }
    }

    @Test("a send blocked on a full socket, cancelled, leaves a prefix sent and the socket usable")
    func cancelledSend() throws {
        let pair = try SocketPair()
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let big = pattern(8 << 20)
            let sending = loop.createTask { try await loop.sockSendAll(pair.first, big) }
            try await sleep(0.01)
            #expect(loop.hasWriter(pair.first), "the send waits for room")
            sending.cancel()
            await #expect(throws: CancelledError.self) { try await sending.value }
            #expect(!loop.hasWriter(pair.first))
            // Drain what was sent; then the socket still carries a whole new message.
            var drained = 0
            while let chunk = readAvailable(pair.second), !chunk.isEmpty { drained += chunk.count }
            #expect(drained > 0 && drained < big.count)
            #expect(Array(big[0..<drained]) == Array(big[0..<drained]))
            try await loop.sockSendAll(pair.first, [9, 9])
            #expect(try await loop.sockRecv(pair.second, 10) == [9, 9])
        }
    }

    @Test("two tasks receiving on one socket: the second is refused with .fileDescriptorBusy")
    func oneWaitPerDirection() throws {
        let pair = try SocketPair()
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let first = loop.createTask { try await loop.sockRecv(pair.first, 10) }
            try await sleep(0.01)
            await #expect(throws: EventLoopError.fileDescriptorBusy(pair.first)) {
                _ = try await loop.sockRecv(pair.first, 10)
            }
            writeBytes(pair.second, [5])
            #expect(try await first.value == [5], "the first wait was not disturbed")
        }
    }

    @Test("sockClose ends a wait on the socket with .closed, instead of leaving it forever")
    func closingEndsWaits() throws {
        let pair = try SocketPair()
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let waiting = loop.createTask { try await loop.sockRecv(pair.first, 10) }
            try await sleep(0.01)
            let fd = pair.first
            #expect(loop.sockClose(fd) == 1)
            await #expect(throws: SocketError.closed) { _ = try await waiting.value }
            await #expect(throws: SocketError.closed) { _ = try await loop.sockRecv(fd, 10) }
        }
        pair.closeSecond()
    }

    @Test("a wait on a loop that closes ends with EventLoopError.closed")
    func loopCloseEndsWaits() throws {
        let pair = try SocketPair()
        let loop = try EventLoop()
        let outcome = Locked<String>("")
        let task = loop.createTask { () async -> Void in
            do {
                _ = try await loop.sockRecv(pair.first, 10)
                outcome.withLock { $0 = "returned" }
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
        }
        try loop.runUntilComplete(loop.createTask { try await sleep(0.01) })
        #expect(loop.hasReader(pair.first))
        let report = try loop.close()
        #expect(report.readersRemoved == 1)
        // The task's continuation was resumed by close; its job runs on the global executor.
        let deadline = ContinuousClock.now + .seconds(FutureTesting.globalPoolSeconds)
        while task.isDone == false && ContinuousClock.now < deadline { usleep(1000) }
        #expect(outcome.value == "\(EventLoopError.closed)")
    }

    @Test("negative counts, blocking sockets and bad addresses are typed errors")
    func misuse() throws {
        let pair = try SocketPair()
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            await #expect(throws: SocketError.invalidArgument("negative byte count -1")) {
                _ = try await loop.sockRecv(pair.first, -1)
            }
            let blocking = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { Glibc.close(blocking) }
            await #expect(throws: SocketError.blockingSocket(blocking)) {
                try await loop.sockConnect(blocking, .ipv4(host: "127.0.0.1", port: 9))
            }
            await #expect(throws: SocketError.blockingSocket(blocking)) { _ = try await loop.sockAccept(blocking) }
            let client = try Socket.makeStream(for: .ipv4(host: "127.0.0.1", port: 0))
            defer { Glibc.close(client) }
            await #expect(throws: SocketError.self) {
                try await loop.sockConnect(client, .ipv4(host: "localhost", port: 80))
            }
            await #expect(throws: SocketError.invalidAddress("port 70000 out of range")) {
                try await loop.sockConnect(client, .ipv4(host: "127.0.0.1", port: 70000))
            }
            await #expect(throws: SocketError.closed) { _ = try await loop.sockRecv(-5, 1) }
        }
    }

    @Test("host names resolve off the loop; numeric hosts at once")
    func resolution() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            #expect(try await loop.getAddressInfo(host: "127.0.0.1", port: 80) == [.ipv4(host: "127.0.0.1", port: 80)])
            #expect(try await loop.getAddressInfo(host: "::1", port: 80) == [.ipv6(host: "::1", port: 80)])
            let local = try await loop.getAddressInfo(host: "localhost", port: 8080, family: .ipv4)
            #expect(local.contains(.ipv4(host: "127.0.0.1", port: 8080)))
            await #expect(throws: SocketError.self) {
                _ = try await loop.getAddressInfo(host: "no-such-host.invalid", port: 80)
            }
        }
    }

    @Test("socket operations leak no descriptor")
    func noDescriptorLeaked() throws {
        let before = quietDescriptorCount()
        for _ in 0..<30 {
            let listener = try TestListener(.ipv4)
            try runBounded { () async throws -> Void in
                let loop = try getRunningLoop()
                let (client, connection, _) = try await listener.connect(on: loop)
                try await loop.sockSendAll(client, [1])
                _ = try await loop.sockRecv(connection, 1)
                loop.sockClose(connection)
                loop.sockClose(client)
            }
            listener.close()
        }
        let after = settledDescriptorCount(atMost: before + 14)
        #expect(after - before < 15, "fds before \(before), after \(after)")
    }
}
