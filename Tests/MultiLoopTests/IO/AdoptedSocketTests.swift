// asyncio's `sock=` forms: `open_connection(sock=sock)` and `start_server(cb, sock=sock)`, with
// CPython's rules (Lib/asyncio/base_events.py: a stream socket is required, the socket is made
// non-blocking and the transport or server owns it) and test_server.py's
// test_unix_server_sock_cleanup (a Unix server started on a socket removes its file on close).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop

@Suite("streams on sockets made elsewhere (openConnection(socket:), startServer(socket:))", .timeLimit(.minutes(5)))
struct AdoptedSocketTests {
    @Test("a socketpair's two ends as two connections: a line each way, then EOF")
    func socketPair() throws {
        try runBounded { () async throws -> Void in
            var fds: [Int32] = [0, 0]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
            let (left, right) = (try openConnection(socket: fds[0]), try getRunningLoop().openConnection(socket: fds[1]))
            #expect(try Socket.isNonBlocking(fds[0]) && Socket.isNonBlocking(fds[1]), "made non-blocking")
            try left.writer.write("ping\n")
            #expect(try await right.reader.readLine() == Array("ping\n".utf8))
            try right.writer.write("pong\n")
            #expect(try await left.reader.readLine() == Array("pong\n".utf8))
            left.writer.close()
            try await left.writer.waitClosed()
            #expect(try await right.reader.read() == [], "the other end's EOF")
            right.writer.close()
            try await right.writer.waitClosed()
        }
    }

    // asyncio: ValueError('A Stream Socket was expected'); an unconnected socket fails later
    // there, here at once. The caller keeps a socket that is refused.
    @Test("refused: a datagram socket, an unconnected one, a pipe, an fd that is not open; the caller keeps them")
    func refusals() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let datagram = try Socket.makeDatagram(for: .ipv4(host: "127.0.0.1", port: 0))
            defer { Glibc.close(datagram) }
            #expect(throws: SocketError.invalidArgument("fd \(datagram) is not a stream socket")) {
                _ = try loop.openConnection(socket: datagram)
            }
            #expect(throws: SocketError.invalidArgument("fd \(datagram) is not a stream socket")) {
                _ = try loop.startServer(socket: datagram) { _, _ in }
            }
            #expect(isOpen(datagram))
            let unconnected = try Socket.makeStream(for: .ipv4(host: "127.0.0.1", port: 0))
            defer { Glibc.close(unconnected) }
            #expect(throws: SocketError.invalidArgument("socket \(unconnected) is not connected")) {
                _ = try loop.openConnection(socket: unconnected)
            }
            #expect(isOpen(unconnected))
            var pipeEnds: [Int32] = [0, 0]
            #expect(pipe(&pipeEnds) == 0)
            defer { Glibc.close(pipeEnds[0]); Glibc.close(pipeEnds[1]) }
            #expect(throws: SocketError.invalidArgument("fd \(pipeEnds[0]) is not a socket")) {
                _ = try loop.openConnection(socket: pipeEnds[0])
            }
            #expect(throws: SocketError.closed) { _ = try loop.openConnection(socket: -1) }
            let unboundUnix = try Socket.makeStream(for: .unix(path: ""))
            defer { Glibc.close(unboundUnix) }
            #expect(throws: SocketError.invalidArgument("Unix socket \(unboundUnix) is not bound to a path")) {
                _ = try loop.startServer(socket: unboundUnix) { _, _ in }
            }
            #expect(isOpen(unboundUnix))
            #expect(throws: StreamError.invalidLimit(0)) { _ = try loop.openConnection(socket: unconnected, limit: 0) }
        }
    }

    @Test("startServer on a bound TCP socket that does not listen yet, and on an unbound one")
    func serverOnTCPSocket() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let echo: ClientConnectedHandler = { reader, writer in
                try writer.write(try await reader.readLine())
                writer.close()
            }
            let bound = try Socket.makeStream(for: .ipv4(host: "127.0.0.1", port: 0))
            try Socket.bind(bound, to: .ipv4(host: "127.0.0.1", port: 0))
            let address = try Socket.localAddress(bound)
            let unbound = try Socket.makeStream(for: .ipv4(host: "127.0.0.1", port: 0))
            for (fd, expected) in [(bound, address as SocketAddress?), (unbound, nil)] {
                let server = try startServer(socket: fd, echo)
                #expect(server.isServing)
                #expect(server.addresses.count == 1)
                if let expected { #expect(server.addresses == [expected]) }
                let port = try #require(server.addresses.first?.port)
                #expect(port != 0, "listen gave an unbound socket a port")
                let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
                try writer.write("echo me\n")
                #expect(try await reader.readLine() == Array("echo me\n".utf8))
                #expect(try await reader.read() == [])
                writer.close()
                server.close()
                try await server.waitClosed()
                await #expect(throws: SocketError.connectionRefused, "the server closed its socket") {
                    _ = try await loop.openConnection(to: .ipv4(host: "127.0.0.1", port: port))
                }
            }
        }
    }

    // test_unix_server_sock_cleanup: a server started on a Unix socket (sock=) removes the
    // socket file when it closes, as one started on a path does.
    @Test("startServer on a bound Unix socket serves, and removes the socket file on close")
    func serverOnUnixSocket() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let path = folder.path + "/sock"
            let fd = try Socket.makeStream(for: .unix(path: path))
            try Socket.bind(fd, to: .unix(path: path))
            let server = try loop.startServer(socket: fd) { reader, writer in
                try writer.write(try await reader.read(100))
                writer.close()
            }
            #expect(server.addresses == [.unix(path: path)])
            let (reader, writer) = try await loop.openUnixConnection(path: path)
            try writer.write("unix")
            #expect(try await reader.readExactly(4) == Array("unix".utf8))
            writer.close()
            server.close()
            try await server.waitClosed()
            #expect(access(path, F_OK) != 0, "the socket file is removed")
        }
    }
}
