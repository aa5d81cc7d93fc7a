// Derived from CPython's Lib/test/test_asyncio/test_sock_lowlevel.py: test_recvfrom,
// test_recvfrom_into and test_sendto_blocking (asyncio 3.11's sock_recvfrom, sock_recvfrom_into
// and sock_sendto, against a UDP echo server), plus what asyncio's selector loop does around
// them: the wait when the socket has no room, cancellation, empty and cut datagrams, errors.
// The facts are CPython's; the code is MultiLoop's.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop

/// A UDP (or Unix datagram) socket bound to a free address, with a task on the loop echoing
/// `count` datagrams back to their senders.
private struct DatagramEchoServer {
    let fd: Int32
    let address: SocketAddress
    let task: LoopTask<Void>

    init(_ bind: SocketAddress, on loop: EventLoop, count: Int) throws {
        let fd = try Socket.makeDatagram(for: bind)
        try Socket.bind(fd, to: bind)
        self.fd = fd
        address = try Socket.localAddress(fd)
        task = loop.createTask {
            for _ in 0..<count {
                let (bytes, sender) = try await loop.sockRecvFrom(fd, 65_536)
                try await loop.sockSendTo(fd, bytes, sender)
            }
        }
    }
}

/// A UDP socket bound to a free port on 127.0.0.1, and its address.
private func boundUDPSocket() throws -> (fd: Int32, address: SocketAddress) {
    let bind = SocketAddress.ipv4(host: "127.0.0.1", port: 0)
    let fd = try Socket.makeDatagram(for: bind)
    do {
        try Socket.bind(fd, to: bind)
        return (fd, try Socket.localAddress(fd))
    } catch {
        Glibc.close(fd)
        throw error
    }
}

/// Lets the loop run until `condition` holds (a task reached its wait), 100,000 turns at most.
private func untilTrue(_ what: String, _ condition: () -> Bool) async throws {
    var turns = 0
    while !condition() {
        turns += 1
        try #require(turns < 100_000, "\(what) never happened")
        try await sleep(0)
    }
}

/// A Unix datagram receiver bound in `folder` and an unnamed sender, both closed by `close()`.
private struct UnixDatagramPair {
    let address: SocketAddress
    let receiver: Int32
    let sender: Int32

    init(in folder: TemporaryFolder, name: String) throws {
        address = .unix(path: folder.path + "/" + name)
        receiver = try Socket.makeDatagram(for: address)
        try Socket.bind(receiver, to: address)
        sender = try Socket.makeDatagram(for: address)
    }

    /// Sends `datagram` without waiting until the kernel refuses one; returns how many it took.
    func fill(with datagram: [UInt8]) throws -> Int {
        var queued = 0
        while try datagram.withUnsafeBytes({ try EventLoop.sendToNow(sender, $0, address) }) != nil {
            queued += 1
            try #require(queued < 100_000, "the sender never filled")
        }
        return queued
    }

    func close() {
        Glibc.close(receiver)
        Glibc.close(sender)
    }
}

@Suite("datagram operations (sockRecvFrom, sockRecvFromInto, sockSendTo)", .timeLimit(.minutes(5)))
struct DatagramTests {
    // test_recvfrom: a 4096-byte datagram to a UDP echo server comes back whole, from its address.
    @Test("sockSendTo then sockRecvFrom through a UDP echo server", arguments: ["127.0.0.1", "::1"])
    func recvFrom(host: String) throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let bind: SocketAddress = host == "::1" ? .ipv6(host: host, port: 0) : .ipv4(host: host, port: 0)
            let server = try DatagramEchoServer(bind, on: loop, count: 1)
            defer { Glibc.close(server.fd) }
            let client = try Socket.makeDatagram(for: bind)
            defer { Glibc.close(client) }
            let data = [UInt8](repeating: 0x01, count: 4096)
            #expect(try await loop.sockSendTo(client, data, server.address) == 4096)
            let (received, from) = try await loop.sockRecvFrom(client, 4096)
            #expect(received == data)
            #expect(from == server.address)
            try await server.task.value
        }
    }

    // test_recvfrom_into: into a buffer of the datagram's size, then into the first half of a
    // buffer twice as large (nbytes=4096): the rest of the buffer is untouched.
    @Test("sockRecvFromInto: the whole buffer, a count smaller than the buffer, one smaller than the datagram")
    func recvFromInto() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let server = try DatagramEchoServer(.ipv4(host: "127.0.0.1", port: 0), on: loop, count: 3)
            defer { Glibc.close(server.fd) }
            let client = try Socket.makeDatagram(for: server.address)
            defer { Glibc.close(client) }
            let data = [UInt8](repeating: 0x01, count: 4096)

            var buffer = [UInt8](repeating: 0, count: 4096)
            try await loop.sockSendTo(client, data, server.address)
            let (count, from) = try await loop.sockRecvFromInto(client, &buffer)
            #expect(count == 4096)
            #expect(buffer == data)
            #expect(from == server.address)

            var large = [UInt8](repeating: 0xEE, count: 8192)
            try await loop.sockSendTo(client, data, server.address)
            let (second, secondFrom) = try await loop.sockRecvFromInto(client, &large, 4096)
            #expect(second == 4096)
            #expect(Array(large[..<4096]) == data)
            #expect(large[4096...].allSatisfy { $0 == 0xEE }, "the bytes past the count are untouched")
            #expect(secondFrom == server.address)

            // A count smaller than the datagram: the datagram is cut there, the buffer past it
            // untouched.
            var cut = [UInt8](repeating: 0xEE, count: 8192)
            try await loop.sockSendTo(client, data, server.address)
            #expect(try await loop.sockRecvFromInto(client, &cut, 1000).count == 1000)
            #expect(Array(cut[..<1000]) == Array(data[..<1000]))
            #expect(cut[1000...].allSatisfy { $0 == 0xEE }, "nothing written past the count")
            try await server.task.value
        }
    }

    // asyncio: ValueError for a negative nbytes or one larger than the buffer; sock_recvfrom
    // with a negative size is a ValueError from the socket module.
    @Test("a negative count, or one larger than the buffer, is .invalidArgument")
    func invalidCounts() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let fd = try Socket.makeDatagram(for: .ipv4(host: "127.0.0.1", port: 0))
            defer { Glibc.close(fd) }
            var buffer = [UInt8](repeating: 0, count: 16)
            await #expect(throws: SocketError.invalidArgument("byte count 17 for a buffer of 16")) {
                _ = try await loop.sockRecvFromInto(fd, &buffer, 17)
            }
            await #expect(throws: SocketError.invalidArgument("byte count -1 for a buffer of 16")) {
                _ = try await loop.sockRecvFromInto(fd, &buffer, -1)
            }
            await #expect(throws: SocketError.invalidArgument("negative byte count -1")) {
                _ = try await loop.sockRecvFrom(fd, -1)
            }
        }
    }

    // test_sendto_blocking: a sendto that would block waits for room, then sends. CPython
    // patches sendto to raise BlockingIOError once; here the sender's send buffer is full for
    // real (a small SO_SNDBUF, datagrams a Unix receiver has not read yet), and the receiver's
    // taking one makes room.
    @Test("sockSendTo with a full send buffer waits, and sends once the receiver takes a datagram")
    func sendToWaitsForRoom() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let pair = try UnixDatagramPair(in: folder, name: "dgram.sock")
            defer { pair.close() }
            let (address, receiver, sender) = (pair.address, pair.receiver, pair.sender)
            // A few datagrams fill it, fewer than the receiver's queue takes (max_dgram_qlen):
            // the kernel then also reports the sender not writable until one is read.
            #expect(Socket.setOption(sender, SOL_SOCKET, SO_SNDBUF, 4096))
            let datagram = pattern(2048, seed: 3)
            let queued = try pair.fill(with: datagram)
            #expect(queued >= 1)
            let sending = loop.createTask { try await loop.sockSendTo(sender, datagram, address) }
            try await untilTrue("the send's wait") { loop.hasWriter(sender) }
            for _ in 0..<10 { try await sleep(0) }
            #expect(!sending.isDone, "no room: the send waits")
            #expect(loop.hasWriter(sender))
            // The receiver takes them all; the kernel reports room once enough are read (a
            // Unix datagram sender is writable again at a quarter of its buffer).
            for index in 0...queued {
                let (bytes, from) = try await loop.sockRecvFrom(receiver, 4096)
                #expect(bytes == datagram, "datagram \(index)")
                #expect(from == .unix(path: ""), "an unnamed sender")
            }
            #expect(try await sending.value == 2048)
            #expect(!loop.hasWriter(sender), "the wait's watch is gone")
            var spare = [UInt8](repeating: 0, count: 16)
            let more = try spare.withUnsafeMutableBytes { try EventLoop.receiveFromNow(receiver, into: $0) }
            #expect(more == nil, "every datagram arrived once, the waiting one too, and no more")
        }
    }

    // Linux reports an unconnected Unix datagram sender writable while its receiver's queue is
    // full (max_dgram_qlen), though sendto answers EAGAIN: waiting for readiness alone would
    // retry at every iteration. sockSendTo sleeps 1 ms after such a wake-up.
    @Test("a sender whose receiver's queue is full does not spin the loop while it waits")
    func fullReceiverQueueDoesNotSpin() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let pair = try UnixDatagramPair(in: folder, name: "queue.sock")
            defer { pair.close() }
            let (address, receiver, sender) = (pair.address, pair.receiver, pair.sender)
            let datagram: [UInt8] = [9]
            let queued = try pair.fill(with: datagram)
            var probe = pollfd(fd: sender, events: Int16(POLLOUT), revents: 0)
            let spurious = poll(&probe, 1, 0) == 1
            // On this kernel the queue limit comes first (the spurious case). Where the send
            // buffer fills first instead, readiness is exact and there is nothing to check here.
            if spurious {
                let sending = loop.createTask { try await loop.sockSendTo(sender, datagram, address) }
                try await sleep(0.01)
                let before = loop.statistics.iterations
                try await sleep(0.05)
                let during = loop.statistics.iterations - before
                try #require(!sending.isDone, "no room: the send waits")
                #expect(during < 2_000, "\(during) iterations in 50 ms: the send retried at every one")
                for _ in 0...queued { _ = try await loop.sockRecvFrom(receiver, 16) }
                #expect(try await sending.value == 1)
            }
        }
    }

    // A cancelled wait takes nothing: the next receive gets the datagram.
    @Test("a sockRecvFrom cancelled while it waits leaves the socket usable")
    func cancelledReceive() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (receiver, address) = try boundUDPSocket()
            defer { Glibc.close(receiver) }
            let waiting = loop.createTask { try await loop.sockRecvFrom(receiver, 100) }
            try await untilTrue("the receive's wait") { loop.hasReader(receiver) }
            waiting.cancel()
            await #expect(throws: CancelledError.self) { _ = try await waiting.value }
            #expect(!loop.hasReader(receiver), "the wait's watch is gone")
            let (sender, _) = try boundUDPSocket()
            defer { Glibc.close(sender) }
            try await loop.sockSendTo(sender, [1, 2, 3], address)
            let (bytes, from) = try await loop.sockRecvFrom(receiver, 100)
            #expect(bytes == [1, 2, 3])
            #expect(from == (try Socket.localAddress(sender)))
        }
    }

    // Datagrams keep their bounds: an empty one is received as empty (not an end), and one
    // longer than the count is cut, its rest lost, the next one whole.
    @Test("an empty datagram is an empty result; a long one is cut and the next is whole")
    func datagramBounds() throws {
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            let (receiver, address) = try boundUDPSocket()
            defer { Glibc.close(receiver) }
            let (sender, _) = try boundUDPSocket()
            defer { Glibc.close(sender) }
            #expect(try await loop.sockSendTo(sender, [], address) == 0)
            let long = pattern(100)
            #expect(try await loop.sockSendTo(sender, long, address) == 100)
            #expect(try await loop.sockSendTo(sender, [7, 8], address) == 2)
            let (empty, emptyFrom) = try await loop.sockRecvFrom(receiver, 100)
            #expect(empty.isEmpty)
            #expect(emptyFrom == (try Socket.localAddress(sender)))
            #expect(try await loop.sockRecvFrom(receiver, 10).bytes == Array(long[..<10]))
            #expect(try await loop.sockRecvFrom(receiver, 10).bytes == [7, 8])
        }
    }

    @Test("an fd that is not open is .closed; a Unix path with nobody bound to it, .connectionRefused")
    func sendErrors() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        try runBounded { () async throws -> Void in
            let loop = try getRunningLoop()
            // A closed descriptor's number may be reused at once by another suite: -1 is never open.
            await #expect(throws: SocketError.closed) {
                try await loop.sockSendTo(-1, [1], .ipv4(host: "127.0.0.1", port: 9))
            }
            await #expect(throws: SocketError.closed) { _ = try await loop.sockRecvFrom(-1, 1) }
            let unix = try Socket.makeDatagram(for: .unix(path: ""))
            defer { Glibc.close(unix) }
            let nobody = SocketAddress.unix(path: folder.path + "/nobody.sock")
            await #expect(throws: SocketError.system("sendto", ENOENT), "no such file") {
                try await loop.sockSendTo(unix, [1], nobody)
            }
            let stale = try Socket.makeDatagram(for: nobody)
            try Socket.bind(stale, to: nobody)
            Glibc.close(stale)  // the file stays, nobody receives there
            await #expect(throws: SocketError.connectionRefused) { try await loop.sockSendTo(unix, [1], nobody) }
            #expect(throws: SocketError.addressInUse) {
                let again = try Socket.makeDatagram(for: nobody)
                defer { Glibc.close(again) }
                try Socket.bind(again, to: nobody)
            }
        }
    }
}
