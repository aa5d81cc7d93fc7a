import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("Semaphore and BoundedSemaphore (asyncio)", .timeLimit(.minutes(5)))
struct SemaphoreTests {
    @Test("a negative initial value is SyncError.invalidValue; 0 starts locked; the default is 1")
    func initialValues() throws {
        #expect(throws: SyncError.invalidValue(-1)) { try Semaphore(value: -1) }
        #expect(throws: SyncError.invalidValue(-2)) { try BoundedSemaphore(value: -2) }
        #expect(SyncError.invalidValue(-1).description == "a semaphore's initial value must be >= 0, not -1")
        #expect(try Semaphore(value: 0).isLocked)
        #expect(try BoundedSemaphore(value: 0).isLocked)
        let one = try Semaphore()
        #expect(!one.isLocked && one.state == (free: 1, waiters: 0))
        #expect(one.description == "<Semaphore unlocked, value: 1, waiters: 0>")
        #expect(try BoundedSemaphore().state == (free: 1, waiters: 0))
    }

    @Test("exactly N holders at once; the others wait, FIFO; release hands a permit to the oldest")
    func exactlyNHolders() throws {
        let order = try run { () async throws -> [Int] in
            let loop = try getRunningLoop()
            let semaphore = try Semaphore(value: 3)
            let order = LoopConfined<[Int]>([])
            let tasks = (0..<6).map { index in
                loop.createTask {
                    try await semaphore.acquire()
                    order.value.append(index)
                }
            }
            for task in tasks[..<3] { try await task.value }
            try await sleep(0)
            #expect(order.value == [0, 1, 2])
            #expect(semaphore.isLocked && semaphore.state == (free: 0, waiters: 3))
            try semaphore.release()
            try await tasks[3].value
            #expect(semaphore.state == (free: 0, waiters: 2))
            try semaphore.release()
            try semaphore.release()
            for task in tasks[4...] { try await task.value }
            try semaphore.release()
            #expect(!semaphore.isLocked && semaphore.state == (free: 1, waiters: 0))
            return order.value
        }
        #expect(order == Array(0..<6))
    }

    @Test("never more than N holders: 400 tasks on 4 loops share 3 permits; exact count", arguments: 0..<2)
    func neverMoreThanN(repetition: Int) throws {
        try SyncTesting.withLoops(4) { loops in
            let semaphore = try Semaphore(value: 3)
            let holding = Locked(0), mostHolding = Locked(0), done = Locked(0)
            let tasks = (0..<400).map { index in
                loops[index % 4].loop.createTask {
                    try await semaphore.withPermit {
                        let now = holding.withLock { $0 += 1; return $0 }
                        mostHolding.withLock { $0 = max($0, now) }
                        try await sleep(0)
                        holding.withLock { $0 -= 1 }
                        done.withLock { $0 += 1 }
                    }
                }
            }
            _ = try SyncTesting.values(of: tasks)
            #expect(done.value == 400)
            #expect(mostHolding.value <= 3 && mostHolding.value >= 1)
            #expect(semaphore.state == (free: 3, waiters: 0))
        }
    }

    @Test("BoundedSemaphore: a release beyond the initial value is SyncError.releasedTooManyTimes")
    func boundedOverRelease() throws {
        try run { () async throws -> Void in
            let semaphore = try BoundedSemaphore(value: 2)
            #expect(throws: SyncError.releasedTooManyTimes) { try semaphore.release() }
            #expect(semaphore.state == (free: 2, waiters: 0), "a refused release changes nothing")
            try await semaphore.acquire()
            try await semaphore.acquire()
            #expect(semaphore.isLocked)
            try semaphore.release()
            try semaphore.release()
            #expect(throws: SyncError.releasedTooManyTimes) { try semaphore.release() }
            #expect(try await semaphore.withPermit { semaphore.state.free } == 1)
            await #expect(throws: SyncError.releasedTooManyTimes, "a body that released its permit itself") {
                try await semaphore.withPermit { try semaphore.release() }
            }
            #expect(semaphore.state == (free: 2, waiters: 0))
            #expect(throws: SyncError.releasedTooManyTimes) { try BoundedSemaphore(value: 0).release() }
            #expect(SyncError.releasedTooManyTimes.description == "the bounded semaphore was released too many times")

            let plain = try Semaphore(value: 0)
            try plain.release()  // not bounded
            try plain.release()
            #expect(plain.state == (free: 2, waiters: 0))
        }
    }

    @Test("a release past Int.max free permits is a typed error, not a trap; the count is unchanged")
    func releaseOverflow() throws {
        let full = try Semaphore(value: .max)
        #expect(throws: SyncError.tooManyPermits) { try full.release() }
        #expect(full.state == (free: .max, waiters: 0))
        let bounded = try BoundedSemaphore(value: .max)
        #expect(throws: SyncError.releasedTooManyTimes) { try bounded.release() }
        try run { () async throws -> Void in
            try await full.acquire()
            try full.release()  // back to Int.max: allowed
            #expect(full.state == (free: .max, waiters: 0))
        }
    }

    @Test("a cancelled waiter leaves at once, holding no permit; the others keep their turn")
    func cancelWhileWaiting() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let semaphore = try BoundedSemaphore(value: 1)
            let order = LoopConfined<[Int]>([])
            try await semaphore.acquire()
            let tasks = (0..<3).map { index in
                loop.createTask { try await semaphore.withPermit { order.value.append(index) } }
            }
            try await sleep(0)
            tasks[0].cancel()
            #expect(semaphore.state == (free: 0, waiters: 2))
            try semaphore.release()
            try await tasks[1].value
            try await tasks[2].value
            await tasks[0].waitUntilDone()
            #expect(tasks[0].isCancelled)
            #expect(order.value == [1, 2])
            #expect(semaphore.state == (free: 1, waiters: 0))
        }
    }

    @Test("a waiter handed a permit but cancelled before it resumes passes it on")
    func handedThenCancelled() throws {
        try SyncTesting.withLoops(2) { loops in
            let semaphore = try BoundedSemaphore(value: 1)
            try SyncTesting.outcome(of: loops[0].loop.createTask { try await semaphore.acquire() }).get()
            let first = loops[1].loop.createTask { try await semaphore.acquire() }
            try SyncTesting.waitUntil("first queued") { semaphore.state.waiters == 1 }
            let second = loops[0].loop.createTask { try await semaphore.acquire() }
            try SyncTesting.waitUntil("second queued") { semaphore.state.waiters == 2 }
            let gate = try SyncTesting.block(loops[1].loop)
            try semaphore.release()  // to `first`, which cannot resume yet
            first.cancel()
            gate.signal()
            #expect(SyncTesting.wasCancelled(try SyncTesting.outcome(of: first)))
            try SyncTesting.outcome(of: second).get()
            #expect(semaphore.state == (free: 0, waiters: 0), "the permit is second's")
            try semaphore.release()
            #expect(semaphore.state == (free: 1, waiters: 0))
        }
    }

    @Test("cancel racing with release, 500 rounds: no permit is lost or duplicated")
    func cancelRacesRelease() throws {
        try SyncTesting.withLoops(2) { loops in
            for round in 0..<500 {
                let semaphore = try BoundedSemaphore(value: 2)
                try SyncTesting.outcome(of: loops[0].loop.createTask {
                    try await semaphore.acquire()
                    try await semaphore.acquire()
                }).get()
                let racer = loops[1].loop.createTask { () async throws -> Void in
                    try await semaphore.acquire()
                    try semaphore.release()
                }
                try SyncTesting.waitUntil("the racer queued") { semaphore.state.waiters == 1 }
                let start = SyncTesting.StartLine(parties: 2)
                let releaseFailed = Locked(false)
                JoinableThread.runAll(2) { which in
                    start.arriveAndWait()
                    SyncTesting.jitter(round: round, party: which)
                    if which == 0 {
                        do { try semaphore.release() } catch { releaseFailed.withLock { $0 = true } }
                    } else {
                        racer.cancel()
                    }
                }
                #expect(!releaseFailed.value)
                try SyncTesting.outcome(of: racer)
                #expect(semaphore.state == (free: 1, waiters: 0), "round \(round)")
            }
        }
    }
}
