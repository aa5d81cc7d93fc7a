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
}
