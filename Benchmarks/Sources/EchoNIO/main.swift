// `echo-nio`: SwiftNIO's echo server, a peer in the echo benchmark (docs/benchmarks.md, "Echo
// server"). The pipeline is NIO's own example's (Sources/NIOEchoServer in swift-nio 2.101):
// BackPressureHandler, then an EchoHandler that writes every read back and flushes at the end of
// each read burst; the same child options (maxMessagesPerRead 16, the adaptive receive
// allocator). NIO's bootstraps turn TCP_NODELAY on by default. What differs from the example:
// one event loop by default (`--threads N` for more), IPv4 on 127.0.0.1, and no printing.
//
//   echo-nio [--host 127.0.0.1] --port PORT [--threads 1]
//
// Runs until killed. Bad usage exits with 2, a failed bind with 1.
import ArgumentParser
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // No promise: nobody waits for the write, and it saves an allocation.
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

struct EchoNIOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-nio",
        abstract: "SwiftNIO's echo server (NIOEchoServer's pipeline), for the echo benchmark.")

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on.")
    var port: Int

    @Option(name: .long, help: "Event loops (threads) of the MultiThreadedEventLoopGroup.")
    var threads = 1

    mutating func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, not \(port)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, not \(threads)") }
    }

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BackPressureHandler())
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator())
        let channel: Channel
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            printError("echo-nio: cannot listen on \(host):\(port): \(error)")
            try? group.syncShutdownGracefully()
            throw ExitCode.failure
        }
        // The server channel is never closed: the process runs until it is killed.
        try channel.closeFuture.wait()
        try group.syncShutdownGracefully()
    }
}

/// One line to standard error, unbuffered.
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

do {
    var command = try EchoNIOCommand.parseAsRoot()
    try command.run()
    exit(0)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if EchoNIOCommand.exitCode(for: error) == .success {
        print(EchoNIOCommand.fullMessage(for: error))
        exit(0)
    }
    printError(EchoNIOCommand.fullMessage(for: error))
    exit(2)
}
