import Testing
import MultiLoop

/// The README's "A taste" example, as written there, must keep working.
@Suite("README example")
struct ReadmeExampleTests {
    @Test("the README example runs and returns 42")
    func readmeExample() throws {
        let loop = try newEventLoop()
        let said = Locked<[String]>([])

        try loop.callSoonThreadsafe { said.withLock { $0.append("hello from the loop") } }
        let timer = try loop.callLater(0.5) { said.withLock { $0.append("half a second later") } }

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
}

/// The README's counter class, as written there.
private final class Counter: @unchecked Sendable { var value = 0 }   // guarded by the Lock below
