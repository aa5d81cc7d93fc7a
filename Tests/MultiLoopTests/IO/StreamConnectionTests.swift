#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// A fresh temporary folder for Unix sockets; removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() {
        var template = Array("/tmp/multiloop-streams-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

/// An echo handler: every line back, until EOF; then closes.
let echoLines: ClientConnectedHandler = { reader, writer in
    while true {
        let line = try await reader.readLine()
        if line.isEmpty { break }
        try writer.write(line)
        try await writer.drain()
    }
    writer.close()
    try await writer.waitClosed()
}

/// Starts an echo server of `kind` on the running loop; returns it and how to connect to it.
func startEchoServer(_ kind: TestListener.Kind, folder: TemporaryFolder, startServing: Bool = true,
                     handler: @escaping ClientConnectedHandler = echoLines) async throws
    -> (Server, @Sendable () async throws -> (reader: StreamReader, writer: StreamWriter)) {
    let loop = try getRunningLoop()
    switch kind {
    case .ipv4, .ipv6:
        let host = kind == .ipv4 ? "127.0.0.1" : "::1"
        let server = try await loop.startServer(host: host, port: 0, startServing: startServing, handler)
        let port = server.addresses[0].port!
        return (server, { try await openConnection(host: host, port: port) })
    case .unix:
        let path = folder.path + "/echo.sock"
        let server = try await loop.startUnixServer(path: path, startServing: startServing, handler)
        return (server, { try await openUnixConnection(path: path) })
    }
}

/// CPython's test_streams connection tests (open_connection, start_server, their Unix forms,
/// drain, write_eof, wait_closed, the handler's errors) against real sockets.
@Suite("streams: openConnection, startServer, StreamWriter", .timeLimit(.minutes(5)))
struct StreamConnectionTests {
    @Test("an echo server returns every line, in order", arguments: TestListener.Kind.allCases)
    func echoLinesRoundTrip(kind: TestListener.Kind) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let (server, connect) = try await startEchoServer(kind, folder: folder)
            let (reader, writer) = try await connect()
            var random = StressRandom(seed: 7)
            for index in 0..<200 {
                let length = random.below(3000)
                let line = (0..<length).map { _ in UInt8(0x21 + random.below(90)) } + [0x0A]
                try writer.write(line)
                if index % 3 == 0 { try await writer.drain() }
                let echoed = try await reader.readLine()
                #expect(echoed == line)
                if echoed != line { break }
            }
            writer.close()
            try await writer.waitClosed()
            #expect(writer.isClosing)
            server.close()
            try await server.waitClosed()
            #expect(!server.isServing)
            #expect(server.acceptedCount == 1)
        }
    }

    @Test("large messages in pieces: readExactly gathers them; the peer's EOF ends read(-1)")
    func largeMessagesAndHalfClose() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let total = 300_000
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { reader, writer in
                let message = try await reader.readExactly(total)
                let rest = try await reader.read()  // until EOF: the client half-closed
                #expect(rest.isEmpty)
                #expect(reader.isAtEOF)
                try writer.write(Array(message.reversed()))
                try await writer.drain()
                writer.close()
            }
            let (reader, writer) = try await connect()
            let message = pattern(total)
            var offset = 0
            var random = StressRandom(seed: 3)
            while offset < total {
                let piece = min(total - offset, 1 + random.below(20_000))
                try writer.write(Array(message[offset..<offset + piece]))
                try await writer.drain()
                offset += piece
            }
            writer.writeEOF()
            #expect(throws: StreamError.writeAfterEOF) { try writer.write([1]) }
            let reply = try await reader.read()  // everything up to the server's close
            var whole = reply
            while !reader.isAtEOF {
                let more = try await reader.read()
                if more.isEmpty { break }
                whole += more
            }
            #expect(whole == Array(message.reversed()))
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
        }
    }

    @Test("drain makes a fast writer wait for a slow reader: the queue stays under the high-water mark plus one write")
    func drainBoundsMemory() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let release = Event()
            let received = Locked(0)
            let (server, connect) = try await startEchoServer(.unix, folder: folder) { reader, writer in
                try await release.wait()  // reads nothing until told
                while true {
                    let chunk = try await reader.read(65_536)
                    if chunk.isEmpty { break }
                    received.withLock { $0 += chunk.count }
                }
                writer.close()
            }
            let (_, writer) = try await connect()
            let chunk = [UInt8](repeating: 0x61, count: 16_384)
            let writes = 400  // 6.25 MiB: far more than the socket buffers hold
            var largestQueue = 0
            let writerTask = loop.createTask { () async throws -> Int in
                var largest = 0
                for _ in 0..<writes {
                    try writer.write(chunk)
                    largest = max(largest, writer.writeBufferSize)
                    try await writer.drain()
                }
                return largest
            }
            // The writer must end up waiting in drain, with the queue bounded.
            var waited = 0
            while writer.writeBufferSize <= 65_536 && waited < 2000 {
                try await sleep(0.005)
                waited += 1
            }
            #expect(writer.writeBufferSize > 65_536, "the queue filled past the high-water mark")
            #expect(!writerTask.isDone, "the writer waits in drain")
            release.set()
            largestQueue = try await writerTask.value
            #expect(largestQueue <= 65_536 + chunk.count)
            writer.close()
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
            #expect(received.value == writes * chunk.count)
        }
    }

    @Test("a reset peer: drain or the next read reports the connection's loss")
    func peerResetReported() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { _, writer in
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(writer.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger,
                           socklen_t(MemoryLayout<Glibc.linger>.size))
                writer.abort()
            }
            let (reader, writer) = try await connect()
            var failure: (any Error)?
            do {
                _ = try await reader.read(100)
                for _ in 0..<1000 {
                    try writer.write(pattern(65_536))
                    try await writer.drain()
                }
            } catch {
                failure = error
            }
            #expect(failure is SocketError, "got \(String(describing: failure))")
            writer.close()
            server.close()
            try await server.waitClosed()
        }
    }

    @Test("an error thrown by the handler goes to the exception handler and closes that connection")
    func handlerErrorClosesConnection() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let log = ErrorLog()
            log.install(on: loop)
            let (server, connect) = try await startEchoServer(.unix, folder: folder) { _, _ in
                throw TestError(code: 42)
            }
            let (reader, writer) = try await connect()
            #expect(try await reader.read() == [], "the server closed the connection")
            #expect(log.all.contains { ($0.error as? TestError) == TestError(code: 42) })
            writer.close()
            server.close()
            try await server.waitClosed()
        }
    }

    @Test("write after close is a typed error; close and waitClosed are idempotent")
    func writeAfterClose() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder)
            let (_, writer) = try await connect()
            writer.close()
            writer.close()
            #expect(throws: StreamError.writeAfterClose) { try writer.write([1]) }
            try await writer.waitClosed()
            try await writer.waitClosed()
            await #expect(throws: SocketError.closed) { try await writer.drain() }
            server.close()
            server.close()
            try await server.waitClosed()
        }
    }

    @Test("a closed server refuses connections; serveForever returns when it is closed")
    func closedServerRefuses() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder)
            let serving = loop.createTask { try await server.serveForever() }
            try await sleep(0.01)
            #expect(!serving.isDone)
            server.close()
            try await serving.value
            try await server.waitClosed()
            await #expect(throws: SocketError.connectionRefused) { _ = try await connect() }
        }
    }

    @Test("cancelling serveForever closes the server")
    func cancellingServeForever() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (server, _) = try await startEchoServer(.unix, folder: folder)
            let serving = loop.createTask { try await server.serveForever() }
            try await sleep(0.01)
            serving.cancel()
            await #expect(throws: CancelledError.self) { try await serving.value }
            try await server.waitClosed()
            #expect(!server.isServing)
            #expect(access(folder.path + "/echo.sock", F_OK) != 0, "the socket file is removed")
        }
    }

    @Test("connecting where nobody listens: .connectionRefused; a bad limit: .invalidLimit")
    func connectionErrors() throws {
        try runBounded { () async throws -> Void in
            let listener = try TestListener(.ipv4)
            let port = listener.address.port!
            listener.close()
            await #expect(throws: SocketError.connectionRefused) {
                _ = try await openConnection(host: "127.0.0.1", port: port)
            }
            await #expect(throws: StreamError.invalidLimit(0)) {
                _ = try await openConnection(host: "127.0.0.1", port: port, limit: 0)
            }
            await #expect(throws: SocketError.self) {
                _ = try await openUnixConnection(path: "/tmp/multiloop-nobody-listens-\(getpid())")
            }
        }
    }

    @Test("servers and connections leak no descriptor")
    func noDescriptorLeaked() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        let before = quietDescriptorCount()
        for round in 0..<20 {
            try runBounded { () async throws -> Void in
                let (server, connect) = try await startEchoServer(round % 2 == 0 ? .ipv4 : .unix, folder: folder)
                let (reader, writer) = try await connect()
                try writer.write(Array("hello\n".utf8))
                _ = try await reader.readLine()
                writer.close()
                try await writer.waitClosed()
                server.close()
                try await server.waitClosed()
            }
        }
        let after = settledDescriptorCount(atMost: before + 14)
        #expect(after - before < 15, "fds before \(before), after \(after)")
    }
}

@Suite("streams on a loop group", .timeLimit(.minutes(5)))
struct GroupServerTests {
    @Test("a group's server spreads connections round-robin; each stays on its loop", arguments: 0..<3)
    func connectionsSpreadOverLoops(round: Int) throws {
        let group = try LoopGroup(loops: 4, name: "server-\(round)")
        defer { _ = try? group.syncShutdownGracefully() }
        let seen = Locked<[Int: Int]>([:])  // loop index -> connections
        let moved = Locked(0)
        let server = try group.submitTask(to: 0) {
            try await group.startServer(host: "127.0.0.1", port: 0) { reader, writer in
                let loop = try getRunningLoop()
                let index = group.index(of: loop) ?? -1
                seen.withLock { $0[index, default: 0] += 1 }
                while true {
                    let line = try await reader.readLine()
                    if line.isEmpty { break }
                    if try getRunningLoop() !== loop { moved.withLock { $0 += 1 } }
                    try writer.write(line)
                    try await writer.drain()
                }
                writer.close()
            }
        }.wait(timeout: 10)
        let port = server.addresses[0].port!
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let clients = (0..<8).map { index in
                loop.createTask { () async throws -> Bool in
                    let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
                    var ok = true
                    for message in 0..<50 {
                        let line = Array("client \(index) message \(message)\n".utf8)
                        try writer.write(line)
                        ok = try await reader.readLine() == line && ok
                    }
                    writer.close()
                    try await writer.waitClosed()
                    return ok
                }
            }
            for client in clients { #expect(try await client.value) }
        }
        server.close()
        try group.submitTask(to: 1) { try await server.waitClosed() }.wait(timeout: 10)
        #expect(seen.value == [0: 2, 1: 2, 2: 2, 3: 2])
        #expect(moved.value == 0)
        #expect(server.acceptedCount == 8)
    }

    @Test("a connection on its way to a busy loop when the server closes: closeClients reaches it and waitClosed waits for it")
    func connectionInFlightAtClose() throws {
        let group = try LoopGroup(loops: 2, name: "in-flight")
        defer { _ = try? group.syncShutdownGracefully() }
        let server = try group.submitTask(to: 0) {
            try await group.startServer(host: "127.0.0.1", port: 0, echoLines)
        }.wait(timeout: 10)
        let port = server.addresses[0].port!
        // Loop 1 is busy: the second connection waits in its lane, accepted but not attached.
        try group.loop(at: 1).execute { usleep(300_000) }
        let clients = [BlockingClient(port: port), BlockingClient(port: port)]
        defer { clients.forEach { $0.close() } }
        usleep(100_000)  // both accepted by now; the second waits for loop 1 (busy for 300 ms)
        #expect(server.acceptedCount == 2, "accepted counts at the accept")
        #expect(server.activeConnections == 2, "the one in flight counts as open")
        server.close()
        server.closeClients()
        try group.submitTask(to: 0) { try await server.waitClosed() }.wait(timeout: 10)
        #expect(server.activeConnections == 0)
        for client in clients { #expect(client.readUntilEOF(), "closeClients closed it") }
    }
}

/// A blocking TCP client on 127.0.0.1 (for tests that must not need a loop of their own).
final class BlockingClient: @unchecked Sendable {
    let fd: Int32

    init(port: Int) {
        fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// Reads until EOF (true) or an error or the 10 s receive timeout (false).
    func readUntilEOF() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, 256, 0) }
            if count == 0 { return true }
            if count < 0 { return false }
        }
    }

    func close() { Glibc.close(fd) }
}
