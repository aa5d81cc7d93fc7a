// Derived from CPython's Lib/test/test_asyncio/test_sendfile.py (SockSendfileMixin:
// test_sock_sendfile_success, _with_offset_and_count, _zero_size, _mix_with_regular_send) and
// base_events' argument checks (_check_sendfile_params): loop.sock_sendfile over TCP on
// loopback, the bytes that arrive, the count returned and the file's position afterwards.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop

/// A temporary regular file holding `bytes`, open for reading and writing.
private struct TemporaryDataFile {
    let fd: Int32
    let path: String

    init(_ bytes: [UInt8]) throws {
        path = "/tmp/multiloop-sendfile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_TRUNC, 0o600)
        try #require(fd >= 0)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        lseek(fd, 0, SEEK_SET)
    }

    var position: Int { Int(lseek(fd, 0, SEEK_CUR)) }

    func remove() {
        Glibc.close(fd)
        unlink(path)
    }
}

/// Reads everything `fd` receives until the peer's EOF.
private func receiveAll(_ fd: Int32, on loop: EventLoop) async throws -> [UInt8] {
    var received: [UInt8] = []
    while true {
        let chunk = try await loop.sockRecv(fd, 65_536)
        if chunk.isEmpty { return received }
        received += chunk
    }
}

@Suite("sockSendFile (loop.sock_sendfile)", .timeLimit(.minutes(5)))
struct SendFileTests {
    /// CPython's DATA is 3.75 MiB; this is 2 MiB, far more than a socket buffer takes at once.
    static let data = pattern(2 * 1024 * 1024, seed: 5)

    /// Runs `send` with a connected TCP pair: its client end, and what the other end received
    /// once `send` returned and the client end was closed.
    private func withConnection(_ send: @escaping @Sendable (EventLoop, Int32) async throws -> Void) throws -> [UInt8] {
        let listener = try TestListener(.ipv4)
        defer { listener.close() }
        let received = Locked<[UInt8]>([])
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (client, connection, _) = try await listener.connect(on: loop)
            defer { Glibc.close(connection) }
            let receiving = loop.createTask { try await receiveAll(connection, on: loop) }
            do {
                try await send(loop, client)
            } catch {
                loop.sockClose(client)
                throw error
            }
            loop.sockClose(client)
            let result = try await receiving.value
            received.withLock { $0 = result }
        }
        return received.value
    }

    @Test("the whole file: every byte arrives, the count is its size, the position its end")
    func success() throws {
        let file = try TemporaryDataFile(Self.data)
        defer { file.remove() }
        let sent = Locked(0)
        let received = try withConnection { loop, client in
            let result = try await loop.sockSendFile(client, file: file.fd)
            sent.withLock { $0 = result }
        }
        #expect(sent.value == Self.data.count)
        #expect(received == Self.data)
        #expect(file.position == Self.data.count)
    }

    @Test("offset 1000, count 2000: those bytes, and the position after them")
    func offsetAndCount() throws {
        let file = try TemporaryDataFile(Self.data)
        defer { file.remove() }
        let sent = Locked(0)
        let received = try withConnection { loop, client in
            let result = try await loop.sockSendFile(client, file: file.fd, offset: 1000, count: 2000)
            sent.withLock { $0 = result }
        }
        #expect(sent.value == 2000)
        #expect(received == Array(Self.data[1000..<3000]))
        #expect(file.position == 3000)
    }

    @Test("an empty file sends nothing; a count past the end sends what there is")
    func zeroSizeAndShortFile() throws {
        let empty = try TemporaryDataFile([])
        defer { empty.remove() }
        let short = try TemporaryDataFile(pattern(100))
        defer { short.remove() }
        let counts = Locked<[Int]>([])
        let received = try withConnection { loop, client in
            let none = try await loop.sockSendFile(client, file: empty.fd)
            let some = try await loop.sockSendFile(client, file: short.fd, offset: 40, count: 1000)
            let past = try await loop.sockSendFile(client, file: short.fd, offset: 500)
            counts.withLock { $0 = [none, some, past] }
        }
        #expect(counts.value == [0, 60, 0])
        #expect(received == Array(pattern(100)[40...]))
        #expect(empty.position == 0)
        #expect(short.position == 100)
    }

    @Test("mixed with sockSendAll before and after: everything in order")
    func mixedWithSendAll() throws {
        let file = try TemporaryDataFile(Self.data)
        defer { file.remove() }
        let buffer = Array(String(repeating: "mix_regular_send", count: 4 * 1024).utf8)  // 64 KiB
        let sent = Locked(0)
        let received = try withConnection { loop, client in
            try await loop.sockSendAll(client, buffer)
            let result = try await loop.sockSendFile(client, file: file.fd)
            sent.withLock { $0 = result }
            try await loop.sockSendAll(client, buffer)
        }
        #expect(sent.value == Self.data.count)
        #expect(received == buffer + Self.data + buffer)
        #expect(file.position == Self.data.count)
    }

    // _check_sendfile_params: ValueError for a negative offset, a count that is not positive,
    // a socket that is not SOCK_STREAM; the socket must be non-blocking (debug mode there).
    @Test("refused: negative offset, count 0, a datagram socket, a blocking socket, a pipe")
    func badArguments() throws {
        let file = try TemporaryDataFile(pattern(10))
        defer { file.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let stream = try Socket.makeStream(for: .ipv4(host: "127.0.0.1", port: 0))
            defer { Glibc.close(stream) }
            await #expect(throws: SocketError.invalidArgument("offset must be non-negative, not -1")) {
                try await loop.sockSendFile(stream, file: file.fd, offset: -1)
            }
            await #expect(throws: SocketError.invalidArgument("count must be positive, not 0")) {
                try await loop.sockSendFile(stream, file: file.fd, count: 0)
            }
            let datagram = try Socket.makeDatagram(for: .ipv4(host: "127.0.0.1", port: 0))
            defer { Glibc.close(datagram) }
            await #expect(throws: SocketError.invalidArgument("only stream sockets send files")) {
                try await loop.sockSendFile(datagram, file: file.fd)
            }
            let blocking = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { Glibc.close(blocking) }
            await #expect(throws: SocketError.blockingSocket(blocking)) {
                try await loop.sockSendFile(blocking, file: file.fd)
            }
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            defer { Glibc.close(ends[0]); Glibc.close(ends[1]) }
            await #expect(throws: SocketError.invalidArgument("fd \(ends[0]) is not a regular file")) {
                try await loop.sockSendFile(stream, file: ends[0])
            }
            #expect(file.position == 0, "nothing sent, the position untouched")
        }
    }

    // sendfile has no MSG_NOSIGNAL: to a peer that has gone, the kernel raises SIGPIPE, which
    // would end this process. The call must throw instead (and the process go on).
    @Test("to a peer that has closed: a typed error, no SIGPIPE")
    func peerClosed() throws {
        let file = try TemporaryDataFile(Self.data)
        defer { file.remove() }
        let listener = try TestListener(.ipv4)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (client, connection, _) = try await listener.connect(on: loop)
            defer { Glibc.close(client) }
            Glibc.close(connection)
            var failure: (any Error)?
            do {
                for _ in 0..<100 { try await loop.sockSendFile(client, file: file.fd, offset: 0) }
            } catch {
                failure = error
            }
            let lost = failure as? SocketError
            #expect(lost == .brokenPipe || lost == .connectionReset, "got \(String(describing: failure))")
            var pending = sigset_t()
            sigpending(&pending)
            #expect(sigismember(&pending, SIGPIPE) == 0, "no SIGPIPE left pending")
        }
    }
}
