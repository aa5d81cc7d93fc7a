// Echo over loopback TCP, in one process, for exact allocation counts per echoed message (the
// echo benchmark proper, `make echo`, measures throughput between processes).
//
//   Echo.MultiLoop.raw       addReader per connection: recv into the loop's buffer, send it back
//   Echo.MultiLoop.streams   startServer: read(1_000_000), write, drain, as uvloop's example
//   Echo.NIO                 NIOEchoServer's pipeline (an EchoHandler writing each read back)
//
// The client is the benchmark thread itself, with blocking system calls (no allocation): per
// message it sends 1 KiB and reads until the 1 KiB is back. What the benchmark counts is
// therefore the server's allocations per message (plus the fixed cost of an iteration).

import Benchmark
import BenchSupport
import MultiLoop
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A connected blocking TCP client on 127.0.0.1:port.
final class BlockingEchoClient: @unchecked Sendable {
    let fd: Int32
    private var message = [UInt8](repeating: 0x61, count: 1024)
    private var reply = [UInt8](repeating: 0, count: 1024)

    init(port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        precondition(rc == 0, "connect failed: \(errno)")
    }

    /// One round trip of 1 KiB.
    func echo() {
        let sent = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        precondition(sent == 1024)
        var got = 0
        while got < 1024 {
            let count = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, 1024 - got, 0) }
            precondition(count > 0, "the echo server closed the connection")
            got += count
        }
    }

    func close() { Glibc.close(fd) }
}

/// The raw server's receive buffer: the loop thread's only.
final class EchoBuffer: @unchecked Sendable {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 64)
    deinit { bytes.deallocate() }
}

/// A MultiLoop loop on its own thread serving echo, raw or with streams.
final class MultiLoopEchoFixture: @unchecked Sendable {
    let loop: MultiLoop.EventLoop
    private var thread: JoinableThread?
    private(set) var port = 0
    private var listener: Int32 = -1
    private var server: Server?
    let client: BlockingEchoClient

    init(streams: Bool) throws {
        loop = try EventLoop()
        let loop = self.loop
        thread = JoinableThread { try? loop.runForever() }
        if streams {
            server = try loop.runCoroutineThreadsafe {
                try await loop.startServer(host: "127.0.0.1", port: 0) { reader, writer in
                    while true {
                        let data = try await reader.read(1_000_000)
                        if data.isEmpty { break }
                        try writer.write(data)
                        try await writer.drain()
                    }
                    writer.close()
                }
            }.wait(timeout: 30)
            port = server!.addresses[0].port!
        } else {
            listener = try Socket.listen(on: .ipv4(host: "127.0.0.1", port: 0))
            port = try Socket.localAddress(listener).port!
            let buffer = EchoBuffer()
            let listener = self.listener
            try loop.addReader(listener) {
                while let (fd, _) = try Socket.accept(listener) {
                    try loop.addReader(fd) {
                        let count = recv(fd, buffer.bytes.baseAddress, buffer.bytes.count, Int32(MSG_DONTWAIT))
                        if count > 0 {
                            // 1 KiB always fits an empty socket buffer.
                            precondition(send(fd, buffer.bytes.baseAddress, count, Int32(MSG_NOSIGNAL)) == count)
                        } else if count == 0 {
                            loop.removeReader(fd)
                            Glibc.close(fd)
                        }
                    }
                }
            }
        }
        client = BlockingEchoClient(port: port)
    }

    func shutdown() throws {
        client.close()
        server?.close()
        if listener >= 0 { loop.sockClose(listener) }
        loop.stop()
        thread?.join()
        try loop.close()
    }
}

final class NIOEchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

final class NIOEchoFixture: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel: Channel
    let client: BlockingEchoClient

    init() throws {
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BackPressureHandler())
                    try channel.pipeline.syncOperations.addHandler(NIOEchoHandler())
                }
            }
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator())
            .bind(host: "127.0.0.1", port: 0).wait()
        client = BlockingEchoClient(port: channel.localAddress!.port!)
    }

    func shutdown() throws {
        client.close()
        try channel.close().wait()
        try group.syncShutdownGracefully()
    }
}

func echoBenchmarks() {
    // 1000 round trips per iteration (the connection is made in setup).
    let echo = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal],
        warmupIterations: 1,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 20,
        thresholds: mallocThresholds(operationsPerIteration: 1000)
    )
    for streams in [false, true] {
        let slot = FixtureSlot<MultiLoopEchoFixture>()
        Benchmark("Echo.MultiLoop.\(streams ? "streams" : "raw")", configuration: echo) { benchmark in
            let client = slot.fixture!.client
            for _ in benchmark.scaledIterations { client.echo() }
        } setup: {
            slot.fixture = try MultiLoopEchoFixture(streams: streams)
        } teardown: {
            try slot.fixture?.shutdown()
            slot.fixture = nil
        }
    }
    let nio = FixtureSlot<NIOEchoFixture>()
    Benchmark("Echo.NIO", configuration: echo) { benchmark in
        let client = nio.fixture!.client
        for _ in benchmark.scaledIterations { client.echo() }
    } setup: {
        nio.fixture = try NIOEchoFixture()
    } teardown: {
        try nio.fixture?.shutdown()
        nio.fixture = nil
    }
}
