import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("AsyncQueue (asyncio.Queue)", .timeLimit(.minutes(5)))
struct QueueTests {
    @Test("putNowait and getNowait: FIFO, count, isEmpty, isFull, queueFull, queueEmpty")
    func nowait() throws {
        let queue = AsyncQueue<Int>(maxSize: 2)
        #expect(queue.maxSize == 2 && queue.isEmpty && !queue.isFull && queue.count == 0)
        #expect(throws: SyncError.queueEmpty) { try queue.getNowait() }
        try queue.putNowait(1)
        try queue.putNowait(2)
        #expect(queue.isFull && queue.count == 2 && !queue.isEmpty)
        #expect(throws: SyncError.queueFull) { try queue.putNowait(3) }
        #expect(queue.count == 2, "a refused put changes nothing")
        #expect(queue.description == "<AsyncQueue maxSize: 2, count: 2, getters: 0, putters: 0, unfinished: 2>")
        #expect(try queue.getNowait() == 1)
        try queue.putNowait(3)
        #expect(try queue.getNowait() == 2)
        #expect(try queue.getNowait() == 3)
        #expect(throws: SyncError.queueEmpty) { try queue.getNowait() }
        #expect(queue.isEmpty)
        #expect(SyncError.queueFull.description == "the queue is full")
        #expect(SyncError.queueEmpty.description == "the queue is empty")

        for maxSize in [0, -1] {
            let unbounded = AsyncQueue<Int>(maxSize: maxSize)
            for item in 0..<1000 { try unbounded.putNowait(item) }
            #expect(!unbounded.isFull && unbounded.count == 1000)
            #expect(try (0..<1000).map { _ in try unbounded.getNowait() } == Array(0..<1000))
        }
        #expect(AsyncQueue<String>().maxSize == 0)
    }

    @Test("put waits while the queue is full; the freed slot goes to the waiting putter's item")
    func putWaitsWhenFull() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let queue = AsyncQueue<Int>(maxSize: 1)
            try await queue.put(1)
            let putter = loop.createTask { try await queue.put(2) }
            try await sleep(0)
            #expect(!putter.isDone && queue.waiterCounts.putters == 1)
            #expect(throws: SyncError.queueFull, "no barging past a waiting putter") { try queue.putNowait(9) }
            #expect(try queue.getNowait() == 1)
            #expect(queue.count == 1 && queue.isFull, "item 2 took the slot at once")
            #expect(throws: SyncError.queueFull) { try queue.putNowait(9) }
            try await putter.value
            #expect(try await queue.get() == 2)
            #expect(queue.isEmpty)
        }
    }

    @Test("get waits while the queue is empty; an item put then goes straight to the oldest getter")
    func getWaitsWhenEmpty() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let queue = AsyncQueue<String>(maxSize: 1)
            let getter = loop.createTask { try await queue.get() }
            try await sleep(0)
            #expect(!getter.isDone && queue.waiterCounts.getters == 1)
            try queue.putNowait("a")
            // Handed to the getter, which has not resumed: counted, but reserved for it.
            #expect(queue.count == 1 && queue.isFull && !queue.isEmpty)
            #expect(throws: SyncError.queueEmpty) { try queue.getNowait() }
            #expect(throws: SyncError.queueFull) { try queue.putNowait("b") }
            #expect(try await getter.value == "a")
            #expect(queue.isEmpty && queue.count == 0)
        }
    }

    @Test("waiting getters are served oldest first, and so are waiting putters")
    func fifoWaiters() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let queue = AsyncQueue<Int>(maxSize: 1)
            let getters = (0..<5).map { _ in loop.createTask { try await queue.get() } }
            try await sleep(0)
            for item in 0..<5 { try await queue.put(item) }
            #expect(try await gather(getters) == Array(0..<5))

            try queue.putNowait(-1)
            let putters = (0..<5).map { item in loop.createTask { try await queue.put(item) } }
            try await sleep(0)
            #expect(queue.waiterCounts.putters == 5)
            var received: [Int] = []
            for _ in 0..<6 { received.append(try await queue.get()) }
            #expect(received == [-1, 0, 1, 2, 3, 4])
            _ = try await gather(putters)
        }
    }

    @Test("taskDone and join: join waits until every item put is done; extra taskDone is an error")
    func taskDoneAndJoin() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let queue = AsyncQueue<Int>()
            try await queue.join()  // nothing unfinished: at once
            #expect(throws: SyncError.taskDoneTooManyTimes) { try queue.taskDone() }
            for item in 0..<3 { try queue.putNowait(item) }
            let joiners = (0..<2).map { _ in loop.createTask { try await queue.join() } }
            try await sleep(0)
            #expect(queue.waiterCounts.joiners == 2)
            for _ in 0..<3 { _ = try queue.getNowait() }
            try queue.taskDone()
            try queue.taskDone()
            try await sleep(0)
            #expect(joiners.allSatisfy { !$0.isDone }, "one item is still unfinished")
            try queue.taskDone()
            _ = try await gather(joiners)
            #expect(throws: SyncError.taskDoneTooManyTimes) { try queue.taskDone() }
            #expect(SyncError.taskDoneTooManyTimes.description == "taskDone() called too many times")
        }
    }

    @Test("producers and consumers on 4 loops, maxSize 8: every item once, in order per producer; join",
          arguments: 0..<2)
    func producersAndConsumers(repetition: Int) throws {
        try SyncTesting.withLoops(4) { loops in
            let queue = AsyncQueue<Int>(maxSize: 8)
            let perProducer = 250
            let overfull = Locked(0)
            let producers = (0..<4).map { producer in
                loops[producer].loop.createTask {
                    for index in 0..<perProducer {
                        try await queue.put(producer * 10_000 + index)
                        if queue.count > 8 { overfull.withLock { $0 += 1 } }
                    }
                }
            }
            let consumers = (0..<4).map { consumer in
                loops[consumer].loop.createTask { () async throws -> [Int] in
                    var received: [Int] = []
                    for _ in 0..<perProducer {
                        received.append(try await queue.get())
                        try queue.taskDone()
                    }
                    return received
                }
            }
            let joiner = loops[0].loop.createTask { try await queue.join() }
            _ = try SyncTesting.values(of: producers)
            let received = try SyncTesting.values(of: consumers)
            try SyncTesting.outcome(of: joiner).get()
            #expect(overfull.value == 0)
            let all = received.flatMap { $0 }
            let expected = (0..<4).flatMap { producer in (0..<perProducer).map { producer * 10_000 + $0 } }
            #expect(all.sorted() == expected)
            for items in received {
                for producer in 0..<4 {
                    let mine = items.filter { $0 / 10_000 == producer }
                    #expect(mine == mine.sorted(), "a consumer gets each producer's items in order")
                }
            }
            #expect(queue.isEmpty && queue.waiterCounts == (0, 0, 0))
        }
    }

    @Test("a getter cancelled while waiting leaves; the next item stays in the queue")
    func cancelWaitingGetter() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let queue = AsyncQueue<Int>()
            let getter = loop.createTask { try await queue.get() }
            try await sleep(0)
            getter.cancel()
            #expect(queue.waiterCounts.getters == 0)
            await getter.waitUntilDone()
            #expect(getter.isCancelled)
            try queue.putNowait(5)
            #expect(try queue.getNowait() == 5)
        }
    }

    @Test("a getter handed an item but cancelled before it resumes gives it to the next getter")
    func handedItemGoesToNextGetter() throws {
        try SyncTesting.withLoops(2) { loops in
            let queue = AsyncQueue<Int>()
            let first = loops[1].loop.createTask { try await queue.get() }
            try SyncTesting.waitUntil("first getter queued") { queue.waiterCounts.getters == 1 }
            let second = loops[0].loop.createTask { try await queue.get() }
            try SyncTesting.waitUntil("second getter queued") { queue.waiterCounts.getters == 2 }
            let gate = try SyncTesting.block(loops[1].loop)
            try queue.putNowait(7)  // to `first`, which cannot resume yet
            first.cancel()
            gate.signal()
            #expect(SyncTesting.wasCancelled(try SyncTesting.outcome(of: first)))
            #expect(try SyncTesting.outcome(of: second).get() == 7)
            #expect(queue.isEmpty)
        }
    }

    @Test("a getter handed an item but cancelled before it resumes puts it back at the front, within maxSize")
    func handedItemGoesBackToTheFront() throws {
        try SyncTesting.withLoops(1) { loops in
            let queue = AsyncQueue<Int>(maxSize: 2)
            let getter = loops[0].loop.createTask { try await queue.get() }
            try SyncTesting.waitUntil("getter queued") { queue.waiterCounts.getters == 1 }
            let gate = try SyncTesting.block(loops[0].loop)
            try queue.putNowait(1)  // handed to the getter: still counted
            try queue.putNowait(2)
            #expect(queue.isFull)
            #expect(throws: SyncError.queueFull) { try queue.putNowait(3) }
            getter.cancel()
            gate.signal()
            #expect(SyncTesting.wasCancelled(try SyncTesting.outcome(of: getter)))
            #expect(queue.count == 2 && queue.isFull, "item 1 is back, and the queue never held 3")
            #expect(try queue.getNowait() == 1)
            #expect(try queue.getNowait() == 2)
        }
    }

    @Test("a putter cancelled while waiting does not put its item; one admitted before it resumes did")
    func cancelledPutters() throws {
        try SyncTesting.withLoops(1) { loops in
            let queue = AsyncQueue<Int>(maxSize: 1)
            try queue.putNowait(0)
            let leaving = loops[0].loop.createTask { try await queue.put(1) }
            try SyncTesting.waitUntil("a putter queued") { queue.waiterCounts.putters == 1 }
            leaving.cancel()
            #expect(SyncTesting.wasCancelled(try SyncTesting.outcome(of: leaving)))
            #expect(queue.count == 1 && queue.waiterCounts.putters == 0)

            let admitted = loops[0].loop.createTask { try await queue.put(2) }
            try SyncTesting.waitUntil("a putter queued") { queue.waiterCounts.putters == 1 }
            let gate = try SyncTesting.block(loops[0].loop)
            #expect(try queue.getNowait() == 0)  // item 2 takes the slot
            admitted.cancel()
            gate.signal()
            try SyncTesting.outcome(of: admitted).get()  // returns normally: the item is in
            #expect(try queue.getNowait() == 2)
            #expect(queue.isEmpty)
        }
    }

    @Test("cancel racing with put, 500 rounds: a cancelled getter never loses an item")
    func cancelRacesPut() throws {
        try SyncTesting.withLoops(2) { loops in
            var received = 0, leftInQueue = 0
            for round in 0..<500 {
                let queue = AsyncQueue<Int>(maxSize: round % 2 * 2)  // unbounded, or room for both items
                let racer = loops[0].loop.createTask { try await queue.get() }
                try SyncTesting.waitUntil("the racer queued") { queue.waiterCounts.getters == 1 }
                // Every third round a second getter queues behind the racer.
                let next: LoopTask<Int>? = round % 3 == 0 ? loops[1].loop.createTask { try await queue.get() } : nil
                if next != nil { try SyncTesting.waitUntil("the second getter") { queue.waiterCounts.getters == 2 } }
                let start = SyncTesting.StartLine(parties: 2)
                let putFailed = Locked(false)
                JoinableThread.runAll(2) { which in
                    start.arriveAndWait()
                    SyncTesting.jitter(round: round, party: which)
                    if which == 0 {
                        do { try queue.putNowait(round) } catch { putFailed.withLock { $0 = true } }
                    } else {
                        racer.cancel()
                    }
                }
                #expect(!putFailed.value)
                var got: [Int] = []
                if case .success(let item) = try SyncTesting.outcome(of: racer) { got.append(item) }
                if let next {
                    try queue.putNowait(-1)  // so that the second getter always gets one
                    got.append(try SyncTesting.outcome(of: next).get())
                }
                received += got.count
                while let item = try? queue.getNowait() {
                    got.append(item)
                    leftInQueue += 1
                }
                #expect(got.sorted() == (next == nil ? [round] : [-1, round]), "round \(round)")
                #expect(queue.isEmpty && queue.waiterCounts == (0, 0, 0))
            }
            #expect(received + leftInQueue == 500 + 167)
        }
    }
}
