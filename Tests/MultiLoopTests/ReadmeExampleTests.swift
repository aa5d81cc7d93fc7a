import Testing
import MultiLoop

/// The README's "A taste" example, as written there, must keep working.
@Suite("README example", .timeLimit(.minutes(5)))
struct ReadmeExampleTests {
    @Test("the README example runs and returns 42")
    func readmeExample() throws {
        let loop = try newEventLoop()
        let said = Locked<[String]>([])

        try loop.callSoonThreadsafe { said.withLock { $0.append("hello from the loop") } }
        // Never due before it is cancelled: a loaded machine cannot make it fire with the answer.
        let timer = try loop.callLater(60) { said.withLock { $0.append("a minute later") } }

        let answer = loop.createFuture(of: Int.self)
        try loop.callLater(0.1) { try answer.setResult(42) }
        #expect(try loop.runUntilComplete(answer) == 42)

        timer.cancel()
        let report = try loop.close()
        #expect(said.value == ["hello from the loop"])
        #expect(report.timersCancelled == 0)  // already cancelled by hand
        #expect(timer.isCancelled)
    }

    @Test("the README's async example runs and returns 303")
    func readmeAsyncExample() throws {
        let total = try run {
            let loop = try getRunningLoop()
            let lock = Lock()
            let counter = Counter()
            let workers = (0..<3).map { _ in
                loop.createTask {
                    for _ in 0..<100 {
                        try await lock.withLock { counter.value += 1 }
                        try await sleep(0)
                    }
                }
            }
            let (a, b) = try await gather({ @Sendable in 1 }, { @Sendable in 2 })
            for worker in workers { try await worker.value }
            return counter.value + a + b
        }
        #expect(total == 303)
    }

    @Test("the README's group example returns 42 and 2, and shuts down cleanly")
    func readmeGroupExample() throws {
        let group = try LoopGroup()
        let answer = try group.submit { 6 * 7 }
        let slow = try group.submitTask { () async throws -> Int in
            try await sleep(0.1)
            return try await group.submit { 1 }.value + 1
        }
        #expect(try answer.wait(timeout: 5) == 42)
        #expect(try slow.wait(timeout: 5) == 2)
        let report = try group.syncShutdownGracefully()
        #expect(report == LoopGroupShutdownReport(loops: (0..<group.count).map { LoopGroupShutdownReport.Loop(index: $0) }))
    }

    @Test("the README's echo example returns the line it sent")
    func readmeEchoExample() throws {
        let reply = try run {
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, writer in
                while case let line = try await reader.readLine(), !line.isEmpty {
                    try writer.write(line)
                    try await writer.drain()
                }
                writer.close()
            }
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.addresses[0].port!)
            try writer.write("hello\n")
            let line = try await reader.readLine()
            writer.close()
            server.close()
            try await server.waitClosed()
            return String(decoding: line, as: UTF8.self)
        }
        #expect(reply == "hello\n")
    }
}

/// The README's counter class, as written there.
private final class Counter: @unchecked Sendable { var value = 0 }   // guarded by the Lock below
