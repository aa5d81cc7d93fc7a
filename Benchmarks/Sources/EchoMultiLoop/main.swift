// `echo-multiloop`: MultiLoop's echo servers for the echo benchmark (docs/benchmarks.md, "Echo
// server").
//
//   echo-multiloop --impl streams|protocols [--host 127.0.0.1] --port PORT [--threads 1]
//
// - `streams`: asyncio's streams echo, as uvloop's benchmark server has it: `startServer`, then
//   per connection `read(1_000_000)`, `write`, `drain` until EOF. On `--threads N` loops, a
//   `LoopGroup` server (one acceptor, connections spread round-robin).
// - `protocols`: the raw path, asyncio's protocol echo (`data_received` -> `transport.write`) on
//   MultiLoop's readiness callbacks: `addReader` per connection, `recv` into the loop's one
//   buffer, `send` it back at once; what the socket does not take is queued and sent from an
//   `addWriter` callback (reading pauses meanwhile). No allocation per message.
//
// Runs until killed (SIGTERM). Bad usage exits with 2, a failed bind with 1.
import ArgumentParser
import MultiLoop

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum Implementation: String, ExpressibleByArgument, CaseIterable {
    case streams, protocols
}

struct EchoMultiLoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-multiloop",
        abstract: "MultiLoop's echo servers (streams, or raw readiness callbacks), for the echo benchmark.")

    @Option(name: .long, help: "streams or protocols.")
    var impl: Implementation

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on.")
    var port: Int

    @Option(name: .long, help: "Event loops (threads).")
    var threads = 1

    mutating func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, not \(port)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, not \(threads)") }
    }

    func run() throws {
        switch impl {
        case .streams: try runStreams()
        case .protocols: try runProtocols()
        }
    }

    private func runStreams() throws {
        let handler: ClientConnectedHandler = { reader, writer in
            // A client killed mid-run resets its connections: not worth a report per connection.
            do {
                while true {
                    let data = try await reader.read(1_000_000)
                    if data.isEmpty { break }
                    try writer.write(data)
                    try await writer.drain()
                }
            } catch is SocketError {}
            writer.close()
        }
        let (host, port, threads) = (host, port, threads)
        try EventLoop.run {
            if threads == 1 {
                let server = try await startServer(host: host, port: port, handler)
                try await server.serveForever()
            } else {
                let group = try LoopGroup(loops: threads, name: "echo")
                let server = try await group.startServer(host: host, port: port, handler)
                try await server.serveForever()
            }
        }
    }

    private func runProtocols() throws {
        let listener = try Socket.listen(on: SocketAddress.ipv4(host: host, port: port), backlog: 1024)
        let loops: [EventLoop] = try (0..<threads).map { _ in try EventLoop(spinBeforeSleep: .zero) }
        let buffers = loops.map { _ in ReceiveBuffer() }
        let next = Counter()
        try loops[0].addReader(listener) {
            while let (fd, _) = try Socket.accept(listener) {
                let index = next.take() % loops.count
                let loop = loops[index]
                let buffer = buffers[index]
                try loop.execute { RawEchoConnection(fd: fd, loop: loop, buffer: buffer).start() }
            }
        }
        var threadsRunning: [PThreadBox] = []
        for loop in loops.dropFirst() {
            threadsRunning.append(PThreadBox { try? loop.runForever() })
        }
        try loops[0].runForever()
    }
}

/// One receive buffer per loop, shared by its connections (only the loop's thread uses it).
final class ReceiveBuffer: @unchecked Sendable {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 262_144, alignment: 64)
}

final class Counter: @unchecked Sendable {
    private var value = 0
    func take() -> Int { defer { value += 1 }; return value }  // acceptor thread only
}

/// A connection of the raw echo: loop thread only.
final class RawEchoConnection: @unchecked Sendable {
    let fd: Int32
    let loop: EventLoop
    let buffer: ReceiveBuffer
    var pending: [UInt8] = []
    var pendingStart = 0

    init(fd: Int32, loop: EventLoop, buffer: ReceiveBuffer) {
        self.fd = fd
        self.loop = loop
        self.buffer = buffer
    }

    func start() {
        do {
            try loop.addReader(fd) { [self] in readable() }
        } catch {
            Glibc.close(fd)
        }
    }

    private func readable() {
        let count = recv(fd, buffer.bytes.baseAddress, buffer.bytes.count, Int32(MSG_DONTWAIT))
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) {
            finish()
            return
        }
        guard count > 0 else { return }
        let sent = send(fd, buffer.bytes.baseAddress, count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
        let done = max(0, sent)
        if sent < 0 && errno != EAGAIN && errno != EINTR {
            finish()
            return
        }
        if done < count {
            // The socket is full: queue the rest, stop reading until it is sent.
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer.bytes[done..<count]))
            loop.removeReader(fd)
            _ = try? loop.addWriter(fd) { [self] in writable() }
        }
    }

    private func writable() {
        let sent = pending.withUnsafeBytes { bytes in
            send(fd, bytes.baseAddress! + pendingStart, bytes.count - pendingStart,
                 Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
        }
        if sent < 0 {
            if errno != EAGAIN && errno != EINTR { finish() }
            return
        }
        pendingStart += sent
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
            loop.removeWriter(fd)
            _ = try? loop.addReader(fd) { [self] in readable() }
        }
    }

    private func finish() {
        loop.removeReader(fd)
        loop.removeWriter(fd)
        Glibc.close(fd)
    }
}

/// A joinable-enough thread for the extra loops (the process runs until killed).
final class PThreadBox {
    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(BodyBox(body)).toOpaque()
        pthread_create(&thread, nil, { raw in
            let body = Unmanaged<BodyBox>.fromOpaque(raw!).takeRetainedValue()
            body.body()
            return nil
        }, box)
    }
}

final class BodyBox {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

EchoMultiLoopCommand.main()
