// Derived from CPython's Lib/test/test_asyncio/test_sock_lowlevel.py (BaseSockTestsMixin):
// test_sock_client_ops, test_unix_sock_client_ops, test_sock_client_racing (its recv, recv_into
// and send races), test_sock_client_connect_racing, test_huge_content,
// test_huge_content_recvinto and test_cancel_sock_accept. The facts are CPython's; the code is
// MultiLoop's. Where MultiLoop deliberately differs (docs/asyncio-mapping.md, difference 57:
// sockRecv/sockSendAll work on a blocking socket, sockConnect/sockAccept refuse one, in every
// mode) the test checks MultiLoop's documented behaviour.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

private let getRequest = Array("GET / HTTP/1.0\r\n\r\n".utf8)
private let statusLine = Array("HTTP/1.0 200 OK".utf8)

/// The offset of the first "\r\n\r\n" in `bytes`, if any.
private func headerEnd(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 4 else { return nil }
    for index in 0...(bytes.count - 4)
    where bytes[index] == 0x0D && bytes[index + 1] == 0x0A && bytes[index + 2] == 0x0D && bytes[index + 3] == 0x0A {
        return index
    }
    return nil
}

/// CPython's test HTTP server for `count` connections, one after the other, with the loop's
/// socket operations: a GET is answered with `cpythonTestResponse`; a "POST /loop" with a
/// Content-Length gets a 200 header and its body echoed back as it comes. Each connection is
/// closed after its answer.
private func serveHTTP(on listener: Int32, count: Int, loop: EventLoop) -> LoopTask<Void> {
    loop.createTask { () async throws -> Void in
        for _ in 0..<count {
            let (fd, _) = try await loop.sockAccept(listener)
            defer { loop.sockClose(fd) }
            var received: [UInt8] = []
            var end: Int?
            while end == nil {
                let chunk = try await loop.sockRecv(fd, 4096)
                if chunk.isEmpty { break }
                received += chunk
                end = headerEnd(received)
            }
            guard let end else { continue }
            let header = String(decoding: received[..<end], as: UTF8.self)
            let lengthLine = header.split(separator: "\r\n").first { $0.hasPrefix("Content-Length: ") }
            guard header.hasPrefix("POST /loop"), let lengthLine,
                  let length = Int(lengthLine.dropFirst("Content-Length: ".count)) else {
                try await loop.sockSendAll(fd, cpythonTestResponse)
                continue
            }
            try await loop.sockSendAll(fd, Array("HTTP/1.0 200 OK\r\nContent-Length: \(length)\r\n\r\n".utf8))
            let early = Array(received[(end + 4)...])
            try await loop.sockSendAll(fd, early)
            var remaining = length - early.count
            while remaining > 0 {
                let chunk = try await loop.sockRecv(fd, 65_536)
                if chunk.isEmpty { break }
                try await loop.sockSendAll(fd, chunk)
                remaining -= chunk.count
            }
        }
    }
}

/// Receives with `sockRecv` until EOF; returns `first` followed by everything received.
private func receiveUntilEOF(_ fd: Int32, after first: [UInt8], loop: EventLoop) async throws -> [UInt8] {
    var all = first
    while true {
        let chunk = try await loop.sockRecv(fd, 1024)
        if chunk.isEmpty { return all }
        all += chunk
    }
}

private func setBlocking(_ fd: Int32, _ blocking: Bool) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK)
}

@Suite("CPython test_sock_lowlevel: sockConnect, sockSendAll, sockRecv, sockRecvInto, sockAccept", .timeLimit(.minutes(5)))
struct CPythonSockLowlevelTests {
    // test_sock_client_ops, test_unix_sock_client_ops: a blocking socket is refused by
    // sockConnect and sockAccept (asyncio: ValueError in debug mode); MultiLoop's sockSendAll and
    // sockRecv work on it without blocking the loop (difference 57). Then a request and its
    // answer, once with sockRecv and once with sockRecvInto into the rest of a buffer.
    @Test("client operations: a blocking socket, then a request and its answer with sockRecv and sockRecvInto",
          arguments: [TestListener.Kind.ipv4, .unix])
    func clientOps(kind: TestListener.Kind) throws {
        let listener = try TestListener(kind)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let server = serveHTTP(on: listener.fd, count: 2, loop: loop)

            let sock = Glibc.socket(listener.address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            #expect(sock >= 0)
            defer { loop.sockClose(sock) }
            await #expect(throws: SocketError.blockingSocket(sock)) { try await loop.sockConnect(sock, listener.address) }
            await #expect(throws: SocketError.blockingSocket(sock)) { _ = try await loop.sockAccept(sock) }
            setBlocking(sock, false)
            try await loop.sockConnect(sock, listener.address)
            setBlocking(sock, true)  // sends and receives do not need non-blocking mode
            try await loop.sockSendAll(sock, getRequest)
            let data = try await loop.sockRecv(sock, 1024)
            #expect(data.starts(with: statusLine))
            #expect(try await receiveUntilEOF(sock, after: data, loop: loop) == cpythonTestResponse)

            let second = try Socket.makeStream(for: listener.address)
            defer { loop.sockClose(second) }
            try await loop.sockConnect(second, listener.address)
            try await loop.sockSendAll(second, getRequest)
            var empty: [UInt8] = []
            #expect(try await loop.sockRecvInto(second, &empty) == 0, "an empty buffer receives nothing")
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 1)
            defer { buffer.deallocate() }
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            var total = try await loop.sockRecvInto(second, buffer)
            #expect(total > 0)
            while true {  // the rest goes after what came first, until EOF
                let count = try await loop.sockRecvInto(second, UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
                if count == 0 { break }
                total += count
            }
            #expect(Array(buffer[0..<total]) == cpythonTestResponse)
            #expect(buffer[total...].allSatisfy { $0 == 0 }, "nothing written past what was received")
            try await server.value
        }
    }

    // test_sock_client_racing, its recv part: a receive cancelled while it waits, then a request
    // sent by another task; the next receive gets the answer.
    @Test("a cancelled sockRecv, then the answer to a request sent by another task")
    func recvRacing() throws {
        let listener = try TestListener(.ipv4)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let server = serveHTTP(on: listener.fd, count: 1, loop: loop)
            let sock = try Socket.makeStream(for: listener.address)
            defer { loop.sockClose(sock) }
            try await loop.sockConnect(sock, listener.address)
            let racing = loop.createTask { try await loop.sockRecv(sock, 1024) }
            try await sleep(0)
            racing.cancel()
            await #expect(throws: CancelledError.self) { _ = try await racing.value }
            #expect(!loop.hasReader(sock))
            let sender = loop.createTask { try await loop.sockSendAll(sock, getRequest) }
            let data = try await loop.sockRecv(sock, 1024)
            #expect(data.starts(with: statusLine))
            #expect(try await receiveUntilEOF(sock, after: data, loop: loop) == cpythonTestResponse)
            try await sender.value
            try await server.value
        }
    }

    // test_sock_client_racing, its recv_into part.
    @Test("a cancelled sockRecvInto, then the answer lands in the same buffer")
    func recvIntoRacing() throws {
        let listener = try TestListener(.ipv4)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let server = serveHTTP(on: listener.fd, count: 1, loop: loop)
            let sock = try Socket.makeStream(for: listener.address)
            defer { loop.sockClose(sock) }
            try await loop.sockConnect(sock, listener.address)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 1)
            defer { buffer.deallocate() }
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let address = UInt(bitPattern: buffer.baseAddress)
            let racing = loop.createTask { () async throws -> Int in
                let target = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: address), count: 1024)
                return try await loop.sockRecvInto(sock, target)
            }
            try await sleep(0)
            racing.cancel()
            await #expect(throws: CancelledError.self) { _ = try await racing.value }
            #expect(buffer.allSatisfy { $0 == 0 }, "the cancelled receive wrote nothing")
            let sender = loop.createTask { try await loop.sockSendAll(sock, getRequest) }
            var total = try await loop.sockRecvInto(sock, buffer)
            while true {
                let count = try await loop.sockRecvInto(sock, UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
                if count == 0 { break }
                total += count
            }
            #expect(Array(buffer[0..<total]) == cpythonTestResponse)
            try await sender.value
            try await server.value
        }
    }

    // test_sock_client_racing, its send part: the socket's buffer filled (SO_SNDBUF 1024), a
    // sockSendAll of "hello" cancelled while it waits, then "world": the peer's bytes (spaces
    // aside) end with "world".
    @Test("a cancelled sockSendAll on a full socket, then another send: the peer gets it last")
    func sendRacing() throws {
        let listener = try Socket.listen(on: .ipv4(host: "127.0.0.1", port: 0), backlog: 1)
        defer { Glibc.close(listener) }
        let address = try Socket.localAddress(listener)
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let sock = try Socket.makeStream(for: address)
            defer { loop.sockClose(sock) }
            Socket.setOption(sock, SOL_SOCKET, SO_SNDBUF, 1024)
            let connecting = loop.createTask { try await loop.sockConnect(sock, address) }
            try await sleep(0)
            let (server, _) = try await loop.sockAccept(listener)
            defer { loop.sockClose(server) }
            try await connecting.value

            var size = 8192
            while size >= 4 {  // fill the buffers until even 4 bytes do not fit
                let spaces = [UInt8](repeating: 0x20, count: size)
                var rounds = 0
                while rounds < 100_000, spaces.withUnsafeBytes({ send(sock, $0.baseAddress, size, Int32(MSG_DONTWAIT)) }) > 0 {
                    rounds += 1
                }
                #expect(errno == EAGAIN || errno == EWOULDBLOCK, "the socket's buffer is full")
                size /= 2
            }
            let hello = loop.createTask { try await loop.sockSendAll(sock, Array("hello".utf8)) }
            try await sleep(0)
            hello.cancel()
            _ = try? await hello.value

            let receiving = loop.createTask { () async throws -> [UInt8] in
                var kept: [UInt8] = []
                while true {
                    let chunk = try await loop.sockRecv(server, 8192)
                    if chunk.isEmpty { return kept }
                    kept += chunk.filter { $0 != 0x20 }
                }
            }
            try await loop.sockSendAll(sock, Array("world".utf8))
            shutdown(sock, Int32(SHUT_WR))
            let data = try await receiving.value
            #expect(data.suffix(5) == ArraySlice(Array("world".utf8)), "got \(String(decoding: data, as: UTF8.self))")
        }
    }

    // test_sock_client_connect_racing: a connect to a bound socket that does not listen yet,
    // cancelled; once it listens, connecting the same socket again succeeds (Linux: after a
    // retry or two).
    @Test("a connect cancelled before the peer listens; the same socket connects once it does")
    func connectRacing() throws {
        let listener = try Socket.makeStream(for: .ipv4(host: "127.0.0.1", port: 0))
        defer { Glibc.close(listener) }
        let bound = try SocketAddress.ipv4(host: "127.0.0.1", port: 0).withSockAddr { Glibc.bind(listener, $0, $1) }
        #expect(bound == 0)
        let address = try Socket.localAddress(listener)
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let sock = try Socket.makeStream(for: address)
            defer { loop.sockClose(sock) }
            let racing = loop.createTask { try await loop.sockConnect(sock, address) }
            try await sleep(0)
            racing.cancel()
            _ = try? await racing.value
            #expect(!loop.hasWriter(sock))
            #expect(Glibc.listen(listener, 1) == 0)
            var connected = false
            var lastError: (any Error)?
            for _ in 0..<128 where !connected {
                do {
                    try await loop.sockConnect(sock, address)
                    connected = true
                } catch let error as SocketError {
                    lastError = error
                }
            }
            #expect(connected, "last error: \(String(describing: lastError))")
            #expect(try Socket.peerAddress(sock) == address)
            let (connection, peer) = try await loop.sockAccept(listener)
            #expect(peer == (try Socket.localAddress(sock)))
            loop.sockClose(connection)
        }
    }

    // test_huge_content, test_huge_content_recvinto: 1,000,000 bytes sent by one task while
    // another receives the echo, with counts as large as the content.
    @Test("huge content: a million bytes echoed while they are sent", arguments: [false, true])
    func hugeContent(intoBuffer: Bool) throws {
        let listener = try TestListener(.ipv4)
        defer { listener.close() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let server = serveHTTP(on: listener.fd, count: 1, loop: loop)
            let dataSize = 1_000_000
            let digits = Array("0123456789".utf8)
            let chunk = (0..<dataSize).map { digits[$0 % 10] }
            let sock = try Socket.makeStream(for: listener.address)
            defer { loop.sockClose(sock) }
            try await loop.sockConnect(sock, listener.address)
            try await loop.sockSendAll(sock, Array("POST /loop HTTP/1.0\r\nContent-Length: \(dataSize)\r\n\r\n".utf8))
            let sender = loop.createTask { try await loop.sockSendAll(sock, chunk) }

            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: dataSize, alignment: 1)
            defer { buffer.deallocate() }
            func receive() async throws -> [UInt8] {
                if !intoBuffer { return try await loop.sockRecv(sock, dataSize) }
                let count = try await loop.sockRecvInto(sock, buffer)
                return Array(buffer[0..<count])
            }
            var data = try await receive()
            #expect(data.starts(with: statusLine))
            while headerEnd(data) == nil {
                let more = try await receive()
                #expect(!more.isEmpty, "EOF inside the header")
                if more.isEmpty { break }
                data += more
            }
            let bodyStart = (headerEnd(data) ?? data.count - 4) + 4
            var offset = 0
            var mismatches = 0
            func check(_ body: ArraySlice<UInt8>) {
                for byte in body {
                    if byte != digits[offset % 10] { mismatches += 1 }
                    offset += 1
                }
            }
            check(data[bodyStart...])
            while true {
                let more = try await receive()
                if more.isEmpty { break }
                check(more[...])
            }
            #expect(offset == dataSize)
            #expect(mismatches == 0)
            try await sender.value
            try await server.value
        }
    }

    // test_cancel_sock_accept: an accept ended by a timeout leaves no watch; the closed listener
    // then refuses connections.
    @Test("an accept ended by waitFor's timeout leaves no watch; the closed listener refuses")
    func cancelSockAccept() throws {
        let listener = try TestListener(.ipv4)
        let address = listener.address
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            await #expect(throws: TimeoutError.self) {
                _ = try await waitFor(0.1) { try await loop.sockAccept(listener.fd) }
            }
            #expect(!loop.hasReader(listener.fd))
            listener.close()
            let client = try Socket.makeStream(for: address)
            defer { loop.sockClose(client) }
            await #expect(throws: SocketError.connectionRefused) { try await loop.sockConnect(client, address) }
        }
    }
}
