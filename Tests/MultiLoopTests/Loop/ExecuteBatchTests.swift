import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `executeBatch`: many callbacks handed over with one publication, all accepted or all
/// refused, in order, exactly once.
@Suite("executeBatch", .timeLimit(.minutes(5)))
struct ExecuteBatchTests {
    final class Tracked: @unchecked Sendable {
        static let alive = Locked(0)
        init() { Self.alive.withLock { $0 += 1 } }
        deinit { Self.alive.withLock { $0 -= 1 } }
    }

    @Test("a batch from another thread runs every callback once, in order, across lane segments, after what the thread sent before")
    func batchRunsInOrder() throws {
        let loop = try EventLoop()
        let order = Locked<[Int]>([])
        try withLoopOnThread(loop) {
            try loop.execute { order.withLock { $0.append(-1) } }
            let count = try loop.executeBatch { batch in
                for index in 0..<1_000 { batch.execute { order.withLock { $0.append(index) } } }
            }
            #expect(count == 1_000)
            try settle(loop)
        }
        #expect(order.value == [-1] + Array(0..<1_000))
    }

    @Test("inside a batch, execute and callSoonThreadsafe to the same loop join it in their place")
    func innerCallsJoinTheBatch() throws {
        let loop = try EventLoop()
        let order = Locked<[String]>([])
        try withLoopOnThread(loop) {
            try loop.executeBatch { batch in
                batch.execute { order.withLock { $0.append("a") } }
                try! loop.execute { order.withLock { $0.append("b") } }
                _ = try! loop.callSoonThreadsafe { order.withLock { $0.append("c") } }
                try! loop.executeBatch { inner in inner.execute { order.withLock { $0.append("d") } } }
                batch.execute { order.withLock { $0.append("e") } }
            }
            try settle(loop)
        }
        #expect(order.value == ["a", "b", "c", "d", "e"])
    }

    @Test("a batch made on the loop's own thread appends to its ready queue")
    func localBatch() throws {
        let ran = try run { () async throws -> [Int] in
            let loop = try getRunningLoop()
            let ran = LoopConfined<[Int]>([])
            try loop.executeBatch { batch in
                for index in 0..<3 { batch.execute { ran.value.append(index) } }
            }
            try await sleep(0)
            return ran.value
        }
        #expect(ran == [0, 1, 2])
    }

    @Test("a batch refused because the loop closed releases every callback, across segments, and none runs")
    func refusedBatchReleasesEverything() throws {
        let loop = try EventLoop()
        let ran = Locked(0)
        let before = Tracked.alive.value
        let registered = FutureTesting.Event()
        let closed = FutureTesting.Event()
        let outcome = Locked<Result<Int, EventLoopError>?>(nil)
        let producer = JoinableThread {
            try! loop.execute {}  // registers this thread's lane
            registered.signal()
            _ = closed.wait()
            let result = Result { () throws(EventLoopError) -> Int in
                try loop.executeBatch { batch in
                    for _ in 0..<300 {
                        let tracked = Tracked()
                        batch.execute { _ = tracked; ran.withLock { $0 += 1 } }
                    }
                }
            }
            outcome.withLock { $0 = result }
        }
        try registered.require("the producer registered its lane")
        try loop.close()
        closed.signal()
        producer.join()
        #expect(throws: EventLoopError.closed) { try outcome.value!.get() }
        #expect(ran.value == 0)
        #expect(Tracked.alive.value == before, "the refused callbacks were destroyed")
    }

    @Test("a close racing batches takes each batch whole or refuses it whole (300 rounds)", arguments: 0..<2)
    func closeRacingBatches(repetition: Int) throws {
        for round in 0..<300 {
            let loop = try EventLoop()
            let thread = JoinableThread { try? loop.runForever() }
            let ranPerBatch = Locked<[Int: Int]>([:])
            let accepted = Locked<Set<Int>>([])
            let start = FutureTesting.StartLine(parties: 2)
            JoinableThread.runAll(2) { party in
                start.arriveAndWait()
                if party == 0 {
                    for batchIndex in 0..<20 {
                        let count = try? loop.executeBatch { batch in
                            for _ in 0..<50 {
                                batch.execute { ranPerBatch.withLock { $0[batchIndex, default: 0] += 1 } }
                            }
                        }
                        if count != nil { accepted.withLock { _ = $0.insert(batchIndex) } }
                    }
                } else {
                    SyncTesting.jitter(round: round, party: party)
                    loop.stop()
                }
            }
            thread.join()
            try loop.close()
            let ran = ranPerBatch.value
            for batchIndex in 0..<20 {
                let expected = accepted.value.contains(batchIndex) ? 50 : 0
                #expect(ran[batchIndex, default: 0] == expected, "round \(round), batch \(batchIndex)")
            }
        }
    }
}
