import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("Cross-thread submission", .timeLimit(.minutes(5)))
struct CrossThreadSubmitTests {
    @Test("every callSoonThreadsafe from several producers runs exactly once, FIFO per producer",
          arguments: 0..<3)
    func exactlyOnceFIFOPerProducer(round: Int) throws {
        let loop = try EventLoop()
        let producers = 3
        let perProducer = 20_000
        let lastSeen = LoopConfined([Int](repeating: -1, count: producers))
        let violations = LoopConfined(0)
        let total = LoopConfined(0)
        let loopThread = JoinableThread { try! loop.runForever() }
        JoinableThread.runAll(producers) { producer in
            for sequence in 0..<perProducer {
                try! loop.callSoonThreadsafe {
                    if lastSeen.value[producer] != sequence - 1 { violations.value += 1 }
                    lastSeen.value[producer] = sequence
                    total.value += 1
                }
            }
        }
        loop.stop()
        loopThread.join()
        try loop.close()
        #expect(total.value == producers * perProducer)
        #expect(violations.value == 0)
        #expect(loop.statistics.inboxPushes >= UInt64(producers * perProducer))
    }
}
