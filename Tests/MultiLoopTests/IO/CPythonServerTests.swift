// Derived from CPython's Lib/test/test_asyncio/test_server.py: BaseStartServer.test_start_server_1,
// SelectorStartServerTests.test_start_unix_server_1, TestServer2 (test_wait_closed_basic,
// test_wait_closed_race, test_close_clients, test_abort_clients, test_close_race) and
// UnixServerCleanupTests (test_unix_server_addr_cleanup, test_unix_server_cleanup_gone,
// test_unix_server_cleanup_replaced). The facts are CPython's; the code is MultiLoop's. Where
// MultiLoop deliberately differs (docs/asyncio-mapping.md, differences 61 and 64) the test checks
// MultiLoop's documented behaviour.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// A handler in the manner of test_server's: reads until EOF, then closes its side.
private let readUntilEOFThenClose: ClientConnectedHandler = { reader, writer in
    _ = try? await reader.read()
    writer.close()
    try await writer.waitClosed()
}

@Suite("CPython test_server: Server (serveForever, waitClosed, closeClients, Unix cleanup)", .timeLimit(.minutes(5)))
struct CPythonServerTests {
    // test_start_server_1, test_start_unix_server_1: a server started with start_serving=False
    // is not serving until serve_forever starts it; the handler cancels the task serving
    // forever; the server ends closed. asyncio raises RuntimeError('... is closed') from a later
    // serve_forever and empties `sockets`; MultiLoop's serveForever returns at once and
    // `addresses` stays (difference 64).
    @Test("startServing false, then serveForever serves; a handler cancels it: the server closes; serveForever again returns at once",
          arguments: [TestListener.Kind.ipv4, .unix])
    func serveForeverCancelledByAHandler(kind: TestListener.Kind) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let log = ErrorLog()
            log.install(on: loop)
            let servingTask = Locked<LoopTask<Void>?>(nil)
            let (server, connect) = try await startEchoServer(kind, folder: folder, startServing: false) { reader, writer in
                _ = try await reader.readLine()
                servingTask.value?.cancel()
                try writer.write("1")
                writer.close()
                try await writer.waitClosed()
            }
            let addresses = server.addresses
            #expect(!server.isServing, "start_serving=False: not serving yet")
            #expect(server.description.hasSuffix(" not serving>"))
            let serving = loop.createTask { try await server.serveForever() }  // starts serving
            servingTask.withLock { $0 = serving }
            let (reader, writer) = try await connect()
            try writer.write([UInt8](repeating: 0x31, count: 5 * 1024) + [0x0A])
            #expect(try await reader.readExactly(1) == [0x31])
            await #expect(throws: CancelledError.self) { try await serving.value }
            #expect(!server.isServing)
            try await server.waitClosed()
            try await server.serveForever()  // a closed server: returns at once
            #expect(server.addresses == addresses)
            if kind == .unix {
                #expect(access(folder.path + "/echo.sock", F_OK) != 0, "the socket file is removed")
            }
            writer.close()
            try await writer.waitClosed()
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // start_serving=False, then server.start_serving(): a connection made before it waits in
    // the backlog (asyncio refuses it: it listens only from start_serving, difference 64) and
    // is served once the server starts; start_serving again does nothing.
    @Test("startServing: false listens without accepting; startServing() accepts what waited")
    func startServingLater() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let handled = Locked(0)
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder, startServing: false) { reader, writer in
                handled.withLock { $0 += 1 }
                try await echoLines(reader, writer)
            }
            #expect(!server.isServing)
            let (reader, writer) = try await connect()  // the kernel completes it: it listens
            try writer.write("early\n")
            try await sleep(0.02)
            #expect(handled.value == 0, "nothing accepted before startServing")
            #expect(server.acceptedCount == 0)
            try server.startServing()
            #expect(server.isServing)
            try server.startServing()  // again: nothing changes
            #expect(try await reader.readLine() == Array("early\n".utf8))
            #expect(handled.value == 1)
            writer.close()
            try await writer.waitClosed()
            server.close()
            #expect(!server.isServing)
            try server.startServing()  // on a closed server: nothing
            #expect(!server.isServing)
            try await server.waitClosed()
        }
    }

    // test_wait_closed_basic: waitClosed waits while the server is open, and while it is closed
    // with a connection still open; it returns once both are closed, and at once afterwards.
    @Test("waitClosed waits for the close and for every connection")
    func waitClosedBasic() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let accepted = Event()
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { reader, writer in
                accepted.set()
                try await readUntilEOFThenClose(reader, writer)
            }
            let first = loop.createTask { try await server.waitClosed() }
            try await sleep(0)
            #expect(!first.isDone, "no connection, not closed: waits")

            let (_, writer) = try await connect()
            try await accepted.wait()
            let second = loop.createTask { try await server.waitClosed() }
            try await sleep(0)
            #expect(!first.isDone && !second.isDone, "a connection, not closed: waits")

            server.close()
            try await sleep(0)
            let third = loop.createTask { try await server.waitClosed() }
            try await sleep(0)
            #expect(!first.isDone && !second.isDone && !third.isDone, "closed, a connection open: waits")
            #expect(server.activeConnections == 1)

            writer.close()
            try await writer.waitClosed()
            try await first.value
            try await second.value
            try await third.value
            try await server.waitClosed()
            #expect(server.activeConnections == 0)
        }
    }

    // test_wait_closed_race: the server and the client's connection closed by callbacks of the
    // same iteration; waitClosed returns.
    @Test("close and the client's close in one iteration: waitClosed returns")
    func waitClosedRace() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder, handler: readUntilEOFThenClose)
            let waiting = loop.createTask { try await server.waitClosed() }
            try await sleep(0)
            #expect(!waiting.isDone)
            let (_, writer) = try await connect()
            try loop.callSoon { server.close() }
            try loop.callSoon { writer.close() }
            try await server.waitClosed()
            try await waiting.value
            #expect(!server.isServing)
            #expect(server.activeConnections == 0)
        }
    }

    // test_close_clients: close() then closeClients(): the connection is closed and waitClosed
    // returns; the client reads EOF.
    @Test("close and closeClients: the connection is closed, waitClosed returns")
    func closeClients() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let accepted = Event()
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { reader, writer in
                accepted.set()
                try await readUntilEOFThenClose(reader, writer)
            }
            let (reader, writer) = try await connect()
            try await accepted.wait()
            let waiting = loop.createTask { try await server.waitClosed() }
            try await sleep(0)
            #expect(!waiting.isDone)
            server.close()
            server.closeClients()
            try await waiting.value
            #expect(server.activeConnections == 0)
            #expect(try await reader.read() == [], "the server closed the connection")
            writer.close()
        }
    }

    // test_abort_clients: a server-side writer with bytes queued (the client does not read);
    // closeClients would wait to send them, abortClients drops them: waitClosed returns.
    @Test("abortClients closes a connection with bytes queued at once")
    func abortClients() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let serverWriter = Locked<StreamWriter?>(nil)
            let accepted = Event()
            let (server, _) = try await startEchoServer(.ipv4, folder: folder) { _, writer in
                serverWriter.withLock { $0 = writer }
                accepted.set()
                try await writer.waitClosed()
            }
            let port = server.addresses[0].port!
            let (_, clientWriter) = try await openConnection(host: "127.0.0.1", port: port, limit: 4096)
            try await accepted.wait()
            let writer = try #require(serverWriter.value)
            var size: Int32 = 65_536
            setsockopt(writer.fileDescriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(clientWriter.fileDescriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            // The client's reader pauses past twice its limit; then the kernel's buffers fill.
            for _ in 0..<3 { try writer.write(pattern(4096)) }
            for _ in 0..<50 where writer.writeBufferSize == 0 {
                try writer.write(pattern(256 * 1024))
                try await sleep(0)
            }
            #expect(writer.writeBufferSize > 0, "bytes queued in the server's writer")
            let waiting = loop.createTask { try await server.waitClosed() }
            try await sleep(0)
            #expect(!waiting.isDone)
            server.close()
            server.abortClients()
            try await waiting.value
            #expect(writer.isClosing)
            #expect(writer.writeBufferSize == 0, "the queue was dropped")
            #expect(server.activeConnections == 0)
            clientWriter.close()
            serverWriter.withLock { $0 = nil }
        }
    }

    // test_close_race: the server closed right after a connection was accepted, whose handler
    // returns at once; waitClosed returns and nothing is reported.
    @Test("closed right after an accept whose handler returns at once: waitClosed returns, nothing reported")
    func closeRace() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let log = ErrorLog()
            log.install(on: try getRunningLoop())
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { _, _ in }
            let (reader, writer) = try await connect()
            server.close()
            try await server.waitClosed()
            #expect(server.activeConnections == 0)
            #expect(try await reader.read() == [], "the handler's connection was closed")
            writer.close()
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // test_unix_server_addr_cleanup: close() on the server's loop removes the socket file before
    // it returns, and the path (or, for TCP, the port) can be bound again at once.
    @Test("close on the server's loop removes the file and frees the address before it returns",
          arguments: [TestListener.Kind.ipv4, .unix])
    func closeFreesTheAddressAtOnce(kind: TestListener.Kind) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let path = folder.path + "/again.sock"
            let first = kind == .unix
                ? try await loop.startUnixServer(path: path, readUntilEOFThenClose)
                : try await loop.startServer(host: "127.0.0.1", port: 0, readUntilEOFThenClose)
            first.close()
            if kind == .unix {
                #expect(access(path, F_OK) != 0, "the socket file is gone when close returns")
            }
            let second = kind == .unix
                ? try await loop.startUnixServer(path: path, readUntilEOFThenClose)
                : try await loop.startServer(host: "127.0.0.1", port: first.addresses[0].port!, readUntilEOFThenClose)
            #expect(second.addresses == first.addresses)
            let (reader, writer) = kind == .unix
                ? try await openUnixConnection(path: path)
                : try await openConnection(host: "127.0.0.1", port: first.addresses[0].port!)
            writer.writeEOF()
            #expect(try await reader.read() == [], "the second server answered and closed")
            writer.close()
            second.close()
            try await second.waitClosed()
            try await first.waitClosed()
        }
    }

    // test_unix_server_cleanup_gone: someone removed the socket file; close is quiet.
    @Test("a Unix server whose socket file is already gone closes quietly")
    func unixCleanupGone() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let log = ErrorLog()
            log.install(on: loop)
            let path = folder.path + "/gone.sock"
            let server = try await loop.startUnixServer(path: path, readUntilEOFThenClose)
            #expect(unlink(path) == 0)
            server.close()
            try await server.waitClosed()
            #expect(!server.isServing)
            #expect(access(path, F_OK) != 0)
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // test_unix_server_cleanup_replaced: someone replaced the socket file with their own socket;
    // close leaves theirs in place.
    @Test("a Unix server whose socket file was replaced leaves the new file in place")
    func unixCleanupReplaced() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let path = folder.path + "/replaced.sock"
            let server = try await loop.startUnixServer(path: path, readUntilEOFThenClose)
            #expect(unlink(path) == 0)
            let other = try Socket.listen(on: .unix(path: path))
            defer { Glibc.close(other) }
            server.close()
            try await server.waitClosed()
            #expect(access(path, F_OK) == 0, "the other socket's file is still there")
            let client = try Socket.makeStream(for: .unix(path: path))
            defer { Glibc.close(client) }
            try await loop.sockConnect(client, .unix(path: path))
            let (connection, _) = try await loop.sockAccept(other)
            Glibc.close(connection)
        }
    }
}
