import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// How many lanes the loop holds (read on its thread).
private func laneCount(_ loop: EventLoop) throws -> Int {
    try onLoop(loop) { loop.lanes.count }
}

@Suite("execute and the producers' lanes", .timeLimit(.minutes(5)))
struct ExecuteTests {
    @Test("execute from several threads: every callback exactly once, FIFO per thread, with and without the spin",
          arguments: [0, 20], 0..<2)
    func exactlyOnceFIFOPerThread(spinMicroseconds: Int, round: Int) throws {
        let loop = try EventLoop(spinBeforeSleep: .microseconds(spinMicroseconds))
        let producers = 4, perProducer = 25_000
        let lastSeen = LoopConfined([Int](repeating: -1, count: producers))
        let violations = LoopConfined(0)
        let total = LoopConfined(0)
        try withLoopOnThread(loop) {
            JoinableThread.runAll(producers) { producer in
                for sequence in 0..<perProducer {
                    try! loop.execute {
                        if lastSeen.value[producer] != sequence - 1 { violations.value += 1 }
                        lastSeen.value[producer] = sequence
                        total.value += 1
                    }
                }
            }
            try settle(loop)
        }
        #expect(total.value == producers * perProducer)
        #expect(violations.value == 0)
        let stats = loop.statistics
        #expect(stats.eventfdWrites <= stats.wakeups + 1, "at most one eventfd write per sleep")
    }

    @Test("one thread's execute, callSoonThreadsafe, callLater(0) and done callbacks keep its order")
    func oneThreadsOrderAcrossKinds() throws {
        let loop = try EventLoop()
        let order = LoopConfined<[Int]>([])
        let producer = JoinableThread {
            for step in 0..<300 {
                switch step % 4 {
                case 0: try! loop.execute { order.value.append(step) }
                case 1: try! loop.callSoonThreadsafe { order.value.append(step) }
                case 2: try! loop.callSoonThreadsafe({ (value: Int) in order.value.append(value) }, step)
                default:
                    let future = loop.createFuture(of: Int.self)
                    try! future.addDoneCallback { future in order.value.append(try future.result()) }
                    try! future.setResult(step)
                }
            }
        }
        producer.join()
        try loop.callSoon { loop.stop() }
        try loop.runForever()
        try loop.close()
        #expect(order.value == Array(0..<300))
    }

    @Test("execute on a closed loop throws .closed and the thread forgets its lane into it")
    func closedLoopRefuses() throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        let producer = JoinableThread {
            try! loop.execute { ran.value += 1 }
            #expect(ProducerLanes.current.pointee.count == 1)
        }
        producer.join()
        try loop.close()
        #expect(ran.value == 1, "accepted before close, so run by close")

        // A thread whose lane the close has shut, and a thread that never had one.
        let again = JoinableThread {
            let lanes = ProducerLanes.current
            for _ in 0..<2 {
                do throws(EventLoopError) {
                    try loop.execute { ran.value += 1 }
                    Issue.record("execute on a closed loop must throw")
                } catch {
                    #expect(error == .closed)
                }
            }
            #expect(lanes.pointee.count == 0)
        }
        again.join()
        #expect(ran.value == 1)
    }

    @Test("a thread that keeps its lane into a loop that then closes: the next execute throws and drops it")
    func laneClosedUnderAProducer() throws {
        let loop = try EventLoop()
        let first = try EventLoop()
        let registered = FutureTesting.Event(), closed = FutureTesting.Event()
        let outcome = Locked<EventLoopError?>(nil)
        let producer = JoinableThread {
            try! loop.execute {}
            try! first.execute {}
            registered.signal()
            try! closed.require("the loop to close")
            do throws(EventLoopError) { try loop.execute {} } catch { outcome.withLock { $0 = error } }
            #expect(ProducerLanes.current.pointee.count == 1, "only the lane into the open loop is left")
        }
        try registered.require("the producer to register")
        try loop.close()
        closed.signal()
        producer.join()
        #expect(outcome.value == .closed)
        try first.close()
    }

    @Test("a thread's table prunes the lanes of closed loops when it adds a lane")
    func tableIsPruned() throws {
        let loops = try (0..<20).map { _ in try EventLoop() }
        let last = try EventLoop()
        let producer = JoinableThread {
            for loop in loops { try! loop.execute {} }
            #expect(ProducerLanes.current.pointee.count == 20)
            for loop in loops { _ = try! loop.close() }
            try! last.execute {}
            #expect(ProducerLanes.current.pointee.count == 1)
        }
        producer.join()
        try last.close()
    }

    @Test("when a producer thread exits, the loop runs what it sent and then drops its lane", arguments: 0..<3)
    func exitedProducersLanesAreDropped(round: Int) throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        try withLoopOnThread(loop) {
            JoinableThread.runAll(3) { _ in
                for _ in 0..<1_000 { try! loop.execute { ran.value += 1 } }
            }
            try settle(loop)
            // The threads have exited; their lanes go once they are seen empty.
            try settle(loop)
            #expect(try laneCount(loop) == 1, "only this test thread's lane is left")
        }
        #expect(ran.value == 3_000)
    }

    @Test("an error thrown by an executed callback reaches the handler with the place it was submitted")
    func errorsCarryTheSubmissionPlace() throws {
        let loop = try EventLoop()
        let log = ErrorLog()
        log.install(on: loop)
        let line = #line + 2
        let producer = JoinableThread {
            try! loop.execute { throw TestError(code: 7) }
        }
        producer.join()
        try loop.execute { loop.stop() }  // not on the loop thread yet: through this thread's lane
        try loop.runForever()
        try loop.close()
        #expect(log.count == 1)
        let report = try #require(log.all.first)
        #expect(report.error as? TestError == TestError(code: 7))
        #expect(report.handle == nil)
        #expect(report.location == "MultiLoopTests/ExecuteTests.swift:\(line)")
        #expect(report.description.contains("ExecuteTests.swift:\(line)"))
    }

    @Test("execute on the loop thread is a plain append: it runs in the next iteration")
    func executeOnTheLoopThread() throws {
        let loop = try EventLoop()
        let order = LoopConfined<[String]>([])
        try loop.callSoon {
            try loop.execute { order.value.append("executed") }
            order.value.append("first batch")
            try loop.callSoon { loop.stop() }
        }
        try loop.runForever()
        try loop.close()
        #expect(order.value == ["first batch", "executed"])
    }

    @Test("a loop dropped without close releases what its lanes still hold")
    func droppedLoopReleasesCaptures() throws {
        weak var weakTracked: Tracked?
        weak var weakLoop: EventLoop?
        do {
            let loop = try EventLoop()
            weakLoop = loop
            let tracked = Tracked()
            weakTracked = tracked
            let producer = JoinableThread { try! loop.execute { _ = tracked } }
            producer.join()
        }
        #expect(weakLoop == nil)
        #expect(weakTracked == nil)
    }
}
