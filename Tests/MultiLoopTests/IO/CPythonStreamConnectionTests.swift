// Derived from CPython's Lib/test/test_asyncio/test_streams.py, its connection-level tests (the
// pure StreamReader tests are in Tests/MultiLoopTests/Streams): test_open_connection,
// test_open_unix_connection, test_open_connection_error, test_open_unix_connection_error,
// test_start_server, test_start_unix_server, test_multiple_drain, test_drain_raises,
// test_wait_closed_on_close, test_wait_closed_on_close_with_unread_data, test_async_writer_api,
// test_eof_feed_when_closing_writer, test_unclosed_resource_warnings,
// test_unclosed_server_resource_warnings, test_unhandled_exception, test_unhandled_cancel and
// test_open_connection_happy_eyeball_refcycles. The facts are CPython's; the code is MultiLoop's.
// Where MultiLoop deliberately differs (docs/asyncio-mapping.md, differences 59 and 60) the test
// checks MultiLoop's documented behaviour.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// What CPython's test HTTP server answers to any request (`test_utils.run_test_server`).
let cpythonTestResponse = Array("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nTest message".utf8)

/// A handler in the manner of CPython's test HTTP server: reads request lines up to the blank
/// one, answers `cpythonTestResponse` and closes the connection.
let cpythonHTTPHandler: ClientConnectedHandler = { reader, writer in
    while true {
        let line = try await reader.readLine()
        if line.isEmpty || line == Array("\r\n".utf8) { break }
    }
    try writer.write(cpythonTestResponse)
    try await writer.drain()
    writer.close()
    try await writer.waitClosed()
}

private let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)

@Suite("CPython test_streams: connections (openConnection, startServer, StreamWriter)", .timeLimit(.minutes(5)))
struct CPythonStreamConnectionTests {
    // test_open_connection, test_open_unix_connection, test_async_writer_api and
    // test_wait_closed_on_close: the status line, then everything up to the server's close;
    // isClosing false before close() and true after; nothing reported to the exception handler.
    @Test("openConnection: a request, the status line, the rest up to EOF; close and waitClosed",
          arguments: TestListener.Kind.allCases)
    func openConnectionRequestResponse(kind: TestListener.Kind) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let log = ErrorLog()
            log.install(on: try getRunningLoop())
            let (server, connect) = try await startEchoServer(kind, folder: folder, handler: cpythonHTTPHandler)
            let (reader, writer) = try await connect()
            try writer.write(request)
            #expect(try await reader.readLine() == Array("HTTP/1.0 200 OK\r\n".utf8))
            let rest = try await reader.read()
            #expect(rest.count == cpythonTestResponse.count - 17)
            #expect(rest.suffix(16) == ArraySlice(Array("\r\n\r\nTest message".utf8)))
            #expect(reader.isAtEOF)
            #expect(!writer.isClosing)
            writer.close()
            #expect(writer.isClosing)
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // test_wait_closed_on_close_with_unread_data: closing with the body still unread.
    @Test("waitClosed returns when the connection is closed with unread data")
    func waitClosedWithUnreadData() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder, handler: cpythonHTTPHandler)
            let (reader, writer) = try await connect()
            try writer.write(request)
            #expect(try await reader.readLine() == Array("HTTP/1.0 200 OK\r\n".utf8))
            writer.close()
            try await writer.waitClosed()
            #expect(writer.isClosing)
            server.close()
            try await server.waitClosed()
        }
    }

    // test_open_connection_error, test_open_unix_connection_error: the connection lost with an
    // error; the next read throws that error (drain too), close() afterwards reports nothing.
    @Test("a connection lost with an error: read and drain throw it; close reports nothing",
          arguments: [TestListener.Kind.ipv4, .unix])
    func connectionLostWithError(kind: TestListener.Kind) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let log = ErrorLog()
            log.install(on: try getRunningLoop())
            let (server, connect) = try await startEchoServer(kind, folder: folder) { reader, writer in
                _ = try? await reader.read()
                writer.close()
            }
            let (reader, writer) = try await connect()
            writer.transport.connectionLost(TestError(code: 17))  // we are on the connection's loop
            await #expect(throws: TestError(code: 17)) { _ = try await reader.read() }
            await #expect(throws: TestError(code: 17)) { try await writer.drain() }
            #expect(writer.isClosing)
            writer.close()
            try await writer.waitClosed()
            server.close()
            server.closeClients()
            try await server.waitClosed()
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // test_start_server, test_start_unix_server: a handler that serves the connection itself,
    // and one that only starts a task to do it (the callback variant); the server is started on
    // a given free port (the callback variant's host/port) and on port 0.
    @Test("startServer: a line comes back, with a handler that serves or one that starts a task",
          arguments: [TestListener.Kind.ipv4, .unix], [false, true])
    func startServerEchoesALine(kind: TestListener.Kind, spawnsTask: Bool) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let log = ErrorLog()
            log.install(on: loop)
            let serve: ClientConnectedHandler = { reader, writer in
                let line = try await reader.readLine()
                try writer.write(line)
                try await writer.drain()
                writer.close()
                try await writer.waitClosed()
            }
            let spawning: ClientConnectedHandler = { reader, writer in
                _ = loop.createTask { try await serve(reader, writer) }
            }
            let handler = spawnsTask ? spawning : serve
            let server: Server
            let connect: @Sendable () async throws -> (reader: StreamReader, writer: StreamWriter)
            if kind == .unix {
                let path = folder.path + "/server.sock"
                server = try await startUnixServer(path: path, handler)
                connect = { try await openUnixConnection(path: path) }
            } else {
                var port = 0
                if spawnsTask {  // a port that was free a moment ago, as CPython's start_callback
                    let probe = try TestListener(.ipv4)
                    port = probe.address.port!
                    probe.close()
                }
                server = try await startServer(host: "127.0.0.1", port: port, handler)
                if port != 0 { #expect(server.addresses == [.ipv4(host: "127.0.0.1", port: port)]) }
                let chosen = server.addresses[0].port!
                connect = { try await openConnection(host: "127.0.0.1", port: chosen) }
            }
            let (reader, writer) = try await connect()
            try writer.write("hello world!\n")
            #expect(try await reader.readLine() == Array("hello world!\n".utf8))
            writer.close()
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
            #expect(server.acceptedCount == 1)
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // test_multiple_drain: several tasks waiting in drain() on one writer all return once the
    // queue drains.
    @Test("ten tasks waiting in drain all return once the peer reads")
    func multipleDrain() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let release = Event()
            let received = Locked(0)
            let total = 4 << 20
            let (server, connect) = try await startEchoServer(.unix, folder: folder) { reader, writer in
                try await release.wait()
                while true {
                    let chunk = try await reader.read(65_536)
                    if chunk.isEmpty { break }
                    received.withLock { $0 += chunk.count }
                }
                writer.close()
            }
            let (_, writer) = try await connect()
            try writer.write(pattern(total))
            #expect(writer.writeBufferSize > 65_536, "the socket cannot take 4 MiB at once")
            let drained = Locked(0)
            let drainers = (0..<10).map { _ in
                loop.createTask { () async throws -> Void in
                    try await writer.drain()
                    drained.withLock { $0 += 1 }
                }
            }
            try await sleep(0.02)
            #expect(drained.value == 0, "nobody reads yet: every drain waits")
            release.set()
            for drainer in drainers { try await drainer.value }
            #expect(drained.value == 10)
            writer.close()
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
            #expect(received.value == total)
        }
    }

    // test_eof_feed_when_closing_writer (bpo-35065): closing the writer ends the reader with EOF.
    @Test("closing the writer feeds the reader EOF: isAtEOF, and read() returns []",
          arguments: [TestListener.Kind.ipv4, .unix])
    func closingTheWriterFeedsEOF(kind: TestListener.Kind) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let log = ErrorLog()
            log.install(on: try getRunningLoop())
            // CPython's server is another thread's, outside the loop's exception handler; here the
            // handler runs on the loop, and its response to a client that has gone may fail
            // (broken pipe, reset): not what this test is about.
            let (server, connect) = try await startEchoServer(kind, folder: folder) { reader, writer in
                do { try await cpythonHTTPHandler(reader, writer) } catch is SocketError {}
            }
            let (reader, writer) = try await connect()
            #expect(!reader.isAtEOF)
            writer.close()
            try await writer.waitClosed()
            #expect(reader.isAtEOF)
            #expect(try await reader.read() == [])
            server.close()
            try await server.waitClosed()
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // get_extra_info('peername'), ('sockname'), ('socket') on both ends of a connection.
    @Test("peerAddress, localAddress and fileDescriptor on both ends", arguments: TestListener.Kind.allCases)
    func extraInfo(kind: TestListener.Kind) throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let seen = Locked<(peer: SocketAddress?, local: SocketAddress?, fd: Int32)>((nil, nil, -1))
            let handled = Event()
            let (server, connect) = try await startEchoServer(kind, folder: folder) { reader, writer in
                seen.withLock { $0 = (writer.peerAddress, writer.localAddress, writer.fileDescriptor) }
                handled.set()
                _ = try await reader.read()
                writer.close()
            }
            let (_, writer) = try await connect()
            try await handled.wait()
            let serverSide = seen.value
            #expect(writer.peerAddress == server.addresses[0])
            #expect(serverSide.local == server.addresses[0])
            #expect(isOpen(writer.fileDescriptor) && isOpen(serverSide.fd))
            #expect(writer.fileDescriptor != serverSide.fd)
            switch kind {
            case .ipv4, .ipv6:
                #expect(serverSide.peer == writer.localAddress)
                #expect(writer.localAddress?.host == (kind == .ipv4 ? "127.0.0.1" : "::1"))
                #expect(writer.localAddress?.port != server.addresses[0].port)
            case .unix:
                #expect(server.addresses[0] == .unix(path: folder.path + "/echo.sock"))
                #expect(writer.localAddress == .unix(path: ""), "the client's socket has no name")
                #expect(serverSide.peer == .unix(path: ""))
            }
            writer.close()
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
        }
    }

    // test_drain_raises and test_async_writer_api_exception_after_close: once the connection is
    // lost, a write is dropped (asyncio ignores it) and drain() throws the loss; only the
    // writer's own close() makes a write throw (difference 59).
    @Test("after the peer resets the connection, a write is dropped and drain throws the reset")
    func writeAfterLossIsDropped() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { _, writer in
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)  // close sends a reset
                setsockopt(writer.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger,
                           socklen_t(MemoryLayout<Glibc.linger>.size))
                writer.abort()
            }
            let (reader, writer) = try await connect()
            await #expect(throws: SocketError.connectionReset) { _ = try await reader.read() }
            #expect(writer.isClosing)
            #expect(throws: Never.self) { try writer.write("dropped") }
            #expect(writer.writeBufferSize == 0)
            await #expect(throws: SocketError.connectionReset) { try await writer.drain() }
            writer.close()
            #expect(throws: StreamError.writeAfterClose) { try writer.write("refused") }
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
        }
    }

    // open_connection(local_addr=): the socket is bound there before it connects; a local
    // address of another family than every address of the host, or one that is taken, fails.
    @Test("openConnection from a local address: bound there; another family or a taken address is refused")
    func localAddress() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let listener = try TestListener(.ipv4)
            defer { listener.close() }
            let port = try #require(listener.address.port)
            let accepting = loop.createTask { try await loop.sockAccept(listener.fd) }
            let (_, writer) = try await loop.openConnection(host: "127.0.0.1", port: port,
                                                            localAddress: .ipv4(host: "127.0.0.1", port: 0))
            let (connection, peer) = try await accepting.value
            defer { Glibc.close(connection) }
            let local = try Socket.localAddress(writer.fileDescriptor)
            #expect(local.host == "127.0.0.1")
            #expect(peer == local, "the server sees the bound address")
            await #expect(throws: SocketError.invalidArgument("no address of 127.0.0.1 has the family of [::1]:0")) {
                _ = try await loop.openConnection(host: "127.0.0.1", port: port, localAddress: .ipv6(host: "::1", port: 0))
            }
            await #expect(throws: SocketError.addressInUse, "the listener's own address") {
                _ = try await loop.openConnection(to: listener.address, localAddress: listener.address)
            }
            writer.close()
            try await writer.waitClosed()
        }
    }

    // test_drain_raises: a task that writes and drains in a loop, never suspending, against a
    // peer that has closed, gets the loss from drain() (ConnectionResetError or BrokenPipeError
    // in asyncio) instead of spinning: the failed send records it before the loop runs.
    @Test("writing and draining in a loop to a closed peer: drain throws the loss")
    func drainRaisesWhenThePeerCloses() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let listener = try TestListener(.ipv4)
            defer { listener.close() }
            let accepting = loop.createTask { () async throws -> Void in
                let (fd, _) = try await loop.sockAccept(listener.fd)
                Glibc.close(fd)
            }
            let (_, writer) = try await openConnection(host: "127.0.0.1", port: listener.address.port!)
            try await accepting.value
            var failure: (any Error)?
            var rounds = 0
            do {
                while rounds < 100_000 {
                    rounds += 1
                    try writer.write("foo\n")
                    try await writer.drain()
                }
            } catch {
                failure = error
            }
            let lost = failure as? SocketError
            #expect(lost == .brokenPipe || lost == .connectionReset, "got \(String(describing: failure)) after \(rounds) rounds")
            writer.close()
            try await writer.waitClosed()
        }
    }

    // test_unhandled_exception: an error thrown by the handler is reported with asyncio's
    // message, and the connection is closed.
    @Test("a handler's error is reported as 'Unhandled exception in client_connected_cb'")
    func unhandledException() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let log = ErrorLog()
            log.install(on: try getRunningLoop())
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { _, _ in
                throw TestError(code: 5)
            }
            let (_, writer) = try await connect()
            try writer.write("test msg")
            try await writer.drain()
            writer.close()
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
            #expect(log.count == 1)
            #expect(log.all.first?.message == "Unhandled exception in client_connected_cb")
            #expect(log.all.first?.error as? TestError == TestError(code: 5))
        }
    }

    // test_unhandled_cancel: a handler whose task is cancelled is not an error: nothing is
    // reported (asyncio closes the transport and stays quiet).
    @Test("a handler that ends cancelled reports nothing")
    func unhandledCancel() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let log = ErrorLog()
            log.install(on: try getRunningLoop())
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { _, writer in
                writer.close()
                withUnsafeCurrentTask { $0?.cancel() }
                try Task.checkCancellation()
            }
            let (_, writer) = try await connect()
            try writer.write("test msg")
            try await writer.drain()
            writer.close()
            try await writer.waitClosed()
            server.close()
            try await server.waitClosed()
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    @Test("a handler that ends cancelled without closing: its connection is closed, nothing reported")
    func cancelledHandlerClosesItsConnection() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let log = ErrorLog()
            log.install(on: loop)
            let kept = Locked<StreamWriter?>(nil)
            let (server, connect) = try await startEchoServer(.unix, folder: folder) { reader, writer in
                kept.withLock { $0 = writer }  // kept alive: only the cancellation may close it
                _ = try await reader.readLine()
                withUnsafeCurrentTask { $0?.cancel() }
                try await sleep(10)
            }
            let (reader, writer) = try await connect()
            try writer.write("go\n")
            #expect(try await reader.read() == [], "the server closed the connection")
            #expect(kept.value?.isClosing == true)
            writer.close()
            server.close()
            try await server.waitClosed()
            #expect(log.count == 0, "reported: \(log.all)")
            kept.withLock { $0 = nil }
        }
    }

    // test_unclosed_resource_warnings: asyncio warns about a StreamWriter dropped while open and
    // leaves its socket open until collected; MultiLoop closes a connection whose reader and
    // writer are both dropped (difference 60): the peer reads EOF.
    @Test("a client connection dropped without close is closed: the server reads EOF")
    func droppedClientConnectionIsClosed() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let serverRead = Locked<[UInt8]?>(nil)
            let done = Event()
            let (server, connect) = try await startEchoServer(.ipv4, folder: folder) { reader, writer in
                let first = try await reader.readLine()
                try writer.write(first)
                let rest = try await reader.read()  // until EOF
                serverRead.withLock { $0 = first + rest }
                done.set()
                writer.close()
            }
            try await exchangeAndDrop(connect)
            try await done.wait()
            #expect(serverRead.value == Array("hello\n".utf8))
            server.close()
            try await server.waitClosed()
        }
    }

    private func exchangeAndDrop(_ connect: @Sendable () async throws -> (reader: StreamReader, writer: StreamWriter)) async throws {
        let (reader, writer) = try await connect()
        try writer.write("hello\n")
        #expect(try await reader.readLine() == Array("hello\n".utf8))
    }

    // test_unclosed_server_resource_warnings: a handler that drops its writer without closing
    // it; MultiLoop closes the connection (difference 60), so the client reads EOF and the
    // server's waitClosed returns.
    @Test("a handler that returns without closing: the connection is closed, the client reads EOF")
    func handlerDroppingItsConnection() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let log = ErrorLog()
            log.install(on: try getRunningLoop())
            let (server, connect) = try await startEchoServer(.unix, folder: folder) { _, _ in }
            let (reader, writer) = try await connect()
            #expect(try await reader.read() == [])
            server.close()
            try await server.waitClosed()
            #expect(server.activeConnections == 0)
            writer.close()
            #expect(log.count == 0, "reported: \(log.all)")
        }
    }

    // test_open_connection_happy_eyeball_refcycles: every address of "localhost" refuses; the
    // error is the connection's (MultiLoop tries the addresses one after the other: no happy
    // eyeballs, no exception group).
    @Test("openConnection to localhost where nobody listens: .connectionRefused")
    func everyAddressRefuses() throws {
        try runBounded { () async throws -> Void in
            let probe = try TestListener(.ipv4)
            let port = probe.address.port!
            probe.close()
            await #expect(throws: SocketError.connectionRefused) {
                _ = try await openConnection(host: "localhost", port: port)
            }
        }
    }
}
