import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("Lock (asyncio.Lock)", .timeLimit(.minutes(5)))
struct LockTests {
    typealias Gate = SyncTesting.Gate

    @Test("acquire and release; isLocked; releasing an unlocked lock is SyncError.releaseUnlocked")
    func basics() throws {
        try run { () async throws -> Void in
            let lock = Lock()
            #expect(!lock.isLocked)
            #expect(throws: SyncError.releaseUnlocked) { try lock.release() }
            try await lock.acquire()
            #expect(lock.isLocked)
            #expect(lock.description == "<Lock locked, waiters: 0>")
            try lock.release()
            #expect(!lock.isLocked)
            #expect(throws: SyncError.releaseUnlocked) { try lock.release() }
            #expect(!lock.isLocked, "a refused release changes nothing")
            #expect(SyncError.releaseUnlocked.description == "the lock is not acquired")
        }
    }

    @Test("withLock holds the lock for its body and releases it on return and on throw")
    func withLock() throws {
        try run { () async throws -> Void in
            let lock = Lock()
            let heldInside = try await lock.withLock { lock.isLocked }
            #expect(heldInside)
            #expect(!lock.isLocked)
            await #expect(throws: TestError(code: 1)) {
                try await lock.withLock { () throws -> Void in throw TestError(code: 1) }
            }
            #expect(!lock.isLocked)
            await #expect(throws: SyncError.releaseUnlocked, "a body that released the lock itself") {
                try await lock.withLock { try lock.release() }
            }
            #expect(!lock.isLocked)
        }
    }

    @Test("waiters get the lock in the order they asked; an acquire after a release does not barge in")
    func fifoOnOneLoop() throws {
        let order = try run { () async throws -> [Int] in
            let loop = try getRunningLoop()
            let lock = Lock()
            let order = LoopConfined<[Int]>([])
            try await lock.acquire()
            let tasks = (0..<10).map { index in
                loop.createTask { try await lock.withLock { order.value.append(index) } }
            }
            try await sleep(0)  // every task runs up to its wait
            #expect(lock.waiterCount == 10)
            try lock.release()
            #expect(lock.isLocked, "handed to task 0, which has not resumed yet")
            try await lock.acquire()  // queues behind the ten
            order.value.append(-1)
            try lock.release()
            for task in tasks { try await task.value }
            return order.value
        }
        #expect(order == Array(0..<10) + [-1])
    }

    @Test("FIFO across loops: waiters of 4 loops get the lock in the order they queued", arguments: 0..<2)
    func fifoAcrossLoops(repetition: Int) throws {
        try SyncTesting.withLoops(4) { loops in
            let lock = Lock()
            let order = Locked<[Int]>([])
            try SyncTesting.outcome(of: loops[0].loop.createTask { try await lock.acquire() }).get()
            var tasks: [LoopTask<Void>] = []
            for index in 0..<12 {
                tasks.append(loops[index % 4].loop.createTask {
                    try await lock.acquire()
                    order.withLock { $0.append(index) }
                    try lock.release()
                })
                try SyncTesting.waitUntil("waiter \(index) queued") { lock.waiterCount == index + 1 }
            }
            try lock.release()
            _ = try SyncTesting.values(of: tasks)
            #expect(order.value == Array(0..<12))
            #expect(!lock.isLocked)
        }
    }

    @Test("mutual exclusion: 1000 tasks on 4 loops contend on one lock; never two inside, exact count",
          arguments: 0..<2)
    func oneLockFourLoops(repetition: Int) throws {
        try SyncTesting.withLoops(4) { loops in
            let lock = Lock()
            let counter = LoopConfined(0)  // touched only under the lock, from 4 threads
            let inside = LoopConfined(false)
            let overlaps = Locked(0)
            let tasks = (0..<1000).map { index in
                loops[index % 4].loop.createTask {
                    try await lock.withLock {
                        if inside.value { overlaps.withLock { $0 += 1 } }
                        inside.value = true
                        let seen = counter.value
                        if index % 3 == 0 { try await sleep(0) }  // hold it across a suspension
                        counter.value = seen + 1
                        inside.value = false
                    }
                }
            }
            _ = try SyncTesting.values(of: tasks)
            #expect(counter.value == 1000)
            #expect(overlaps.value == 0)
            #expect(!lock.isLocked && lock.waiterCount == 0)
        }
    }

    @Test("a lock per loop: 4 loops x 250 tasks, exact count on each")
    func lockPerLoop() throws {
        try SyncTesting.withLoops(4) { loops in
            let locks = loops.map { _ in Lock() }
            let counters = loops.map { _ in LoopConfined(0) }
            let tasks = (0..<1000).map { index in
                let which = index % 4
                return loops[which].loop.createTask {
                    try await locks[which].withLock {
                        let seen = counters[which].value
                        try await sleep(0)  // the other tasks of the loop run, and must wait
                        counters[which].value = seen + 1
                    }
                }
            }
            _ = try SyncTesting.values(of: tasks)
            #expect(counters.map(\.value) == [250, 250, 250, 250])
            #expect(locks.allSatisfy { !$0.isLocked })
        }
    }

    @Test("plain Swift tasks (no loop) contend on a lock")
    func plainSwiftTasks() async throws {
        let lock = Lock()
        let counter = LoopConfined(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await lock.withLock {
                        let seen = counter.value
                        await Task.yield()
                        counter.value = seen + 1
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(counter.value == 200)
        #expect(!lock.isLocked)
    }

    @Test("withLock runs its body in the caller's isolation: an actor's read-suspend-write made whole")
    func actorIsolatedBody() async throws {
        actor Tally {
            let lock = Lock()
            var value = 0

            func addOne() async throws {
                try await lock.withLock {
                    let seen = value  // actor state, touched in the body: it runs on the actor
                    await Task.yield()  // other addOne calls enter the actor meanwhile, and wait
                    value = seen + 1
                }
            }
        }
        let tally = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { try await tally.addOne() } }
            try await group.waitForAll()
        }
        #expect(await tally.value == 50)
    }

    @Test("a waiter cancelled while waiting leaves the queue at once and throws; the others keep their turn")
    func cancelWhileWaiting() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let lock = Lock()
            let order = LoopConfined<[Int]>([])
            try await lock.acquire()
            let tasks = (0..<3).map { index in
                loop.createTask { try await lock.withLock { order.value.append(index) } }
            }
            try await sleep(0)
            #expect(lock.waiterCount == 3)
            tasks[1].cancel()
            #expect(lock.waiterCount == 2, "the cancelled waiter left at once")
            try lock.release()
            try await tasks[0].value
            try await tasks[2].value
            await tasks[1].waitUntilDone()
            #expect(tasks[1].isCancelled)
            #expect(order.value == [0, 2])
            #expect(!lock.isLocked && lock.waiterCount == 0)
        }
    }

    @Test("an already-cancelled task takes a free lock at once, but does not wait for a held one")
    func alreadyCancelled() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let lock = Lock()
            try await lock.acquire()
            let refused = loop.createTask { () async throws -> Void in
                withUnsafeCurrentTask { $0?.cancel() }
                try await lock.acquire()
            }
            await refused.waitUntilDone()
            #expect(refused.isCancelled)
            #expect(lock.waiterCount == 0 && lock.isLocked)
            try lock.release()
            let taker = loop.createTask { () async throws -> Bool in
                withUnsafeCurrentTask { $0?.cancel() }
                try await lock.acquire()  // free: no suspension, so no cancellation (asyncio)
                defer { try? lock.release() }
                return lock.isLocked
            }
            #expect(try await taker.value)
            #expect(!lock.isLocked)
        }
    }

    @Test("a waiter handed the lock but cancelled before it resumes passes it on and throws", arguments: 0..<3)
    func handedThenCancelled(repetition: Int) throws {
        try SyncTesting.withLoops(2) { loops in
            let lock = Lock()
            let holders = Locked<[String]>([])
            try SyncTesting.outcome(of: loops[0].loop.createTask { try await lock.acquire() }).get()
            let first = loops[1].loop.createTask { () async throws -> Void in
                try await lock.acquire()
                holders.withLock { $0.append("first") }
                try lock.release()
            }
            try SyncTesting.waitUntil("first queued") { lock.waiterCount == 1 }
            let second = loops[0].loop.createTask { () async throws -> Void in
                try await lock.acquire()  // and keeps it
                holders.withLock { $0.append("second") }
            }
            try SyncTesting.waitUntil("second queued") { lock.waiterCount == 2 }
            let gate = try SyncTesting.block(loops[1].loop)
            try lock.release()  // hands the lock to `first`, which cannot resume yet
            #expect(lock.isLocked && lock.waiterCount == 1)
            first.cancel()  // too late to leave the queue: the cancel handler finds it handed
            gate.signal()
            #expect(SyncTesting.wasCancelled(try SyncTesting.outcome(of: first)))
            try SyncTesting.outcome(of: second).get()
            #expect(holders.value == ["second"])
            #expect(lock.isLocked, "held by second")
            try lock.release()
            #expect(!lock.isLocked && lock.waiterCount == 0)
        }
    }

    @Test("cancel racing with release, 500 rounds: the lock is never lost, never kept by a cancelled waiter")
    func cancelRacesRelease() throws {
        try SyncTesting.withLoops(3) { loops in
            let outcomes = Locked<(acquired: Int, cancelled: Int)>((0, 0))
            for round in 0..<500 {
                let lock = Lock()
                let holding = Locked(0), mostHolding = Locked(0)
                let hold: @Sendable () -> Void = {
                    let now = holding.withLock { $0 += 1; return $0 }
                    mostHolding.withLock { $0 = max($0, now) }
                }
                try SyncTesting.outcome(of: loops[0].loop.createTask { try await lock.acquire() }).get()
                let racer = loops[1].loop.createTask { () async throws -> Void in
                    try await lock.acquire()
                    hold()
                    holding.withLock { $0 -= 1 }
                    try lock.release()
                }
                try SyncTesting.waitUntil("the racer queued") { lock.waiterCount == 1 }
                // Every other round, a second waiter that keeps the lock until told.
                let letGo = loops[2].loop.createFuture(of: Void.self)
                let next: LoopTask<Void>? = round % 2 == 0 ? nil : loops[2].loop.createTask {
                    try await lock.acquire()
                    hold()
                    try await letGo.value
                    holding.withLock { $0 -= 1 }
                    try lock.release()
                }
                if next != nil { try SyncTesting.waitUntil("the second waiter queued") { lock.waiterCount == 2 } }

                let start = SyncTesting.StartLine(parties: 2)
                let releaseError = Locked<String?>(nil)
                JoinableThread.runAll(2) { which in
                    start.arriveAndWait()
                    SyncTesting.jitter(round: round, party: which)
                    if which == 0 {
                        do { try lock.release() } catch { releaseError.withLock { $0 = "\(error)" } }
                    } else {
                        racer.cancel()
                    }
                }
                #expect(releaseError.value == nil)
                let racerOutcome = try SyncTesting.outcome(of: racer)
                outcomes.withLock {
                    if SyncTesting.wasCancelled(racerOutcome) { $0.cancelled += 1 } else { $0.acquired += 1 }
                }
                if let next {
                    try SyncTesting.waitUntil("the second waiter holds the lock") { holding.value == 1 }
                    #expect(lock.isLocked && lock.waiterCount == 0, "held by exactly the second waiter")
                    try letGo.setResult(())
                    try SyncTesting.outcome(of: next).get()
                }
                #expect(!lock.isLocked && lock.waiterCount == 0, "round \(round)")
                #expect(holding.value == 0 && mostHolding.value <= 1)
            }
            #expect(outcomes.value.acquired + outcomes.value.cancelled == 500)
        }
    }
}
