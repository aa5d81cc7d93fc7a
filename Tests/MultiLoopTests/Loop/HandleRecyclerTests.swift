import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

final class Tracked: @unchecked Sendable {}

@Suite("Recycling spent closure handles", .timeLimit(.minutes(5)))
struct HandleRecyclerTests {
    /// Submits `count` closure handles from the calling thread, each counting `ran` when it
    /// runs, dropping them; returns their identities.
    static func submitDropping(_ count: Int, to loop: EventLoop, ran: Locked<Int>) -> Set<ObjectIdentifier> {
        Set((0..<count).map { _ in ObjectIdentifier(try! loop.callSoonThreadsafe { ran.withLock { $0 += 1 } }) })
    }

    /// Runs `loop` on the calling thread until `ran` reaches `total` (the loop is not running
    /// otherwise, so no callback can run before its caller dropped the handle: the test is
    /// deterministic).
    static func runUntil(_ loop: EventLoop, ran: Locked<Int>, reaches total: Int) throws {
        @Sendable func check() {
            if ran.value >= total { loop.stop() } else { _ = try? loop.callSoon { check() } }
        }
        try loop.callSoon { check() }
        try loop.runForever()
    }

    @Test("a producer gets back exactly the handles it sent: its second round allocates none, and never another producer's")
    func handlesGoBackToTheirProducer() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let ran = Locked(0)
        let rounds = Locked<[[Set<ObjectIdentifier>]]>([[], []])
        // submitted[producer][round], proceed[round]
        let submitted = (0..<2).map { _ in [FutureTesting.Event(), FutureTesting.Event()] }
        let proceed = [FutureTesting.Event(), FutureTesting.Event()]
        let producers = (0..<2).map { producer in
            JoinableThread {
                for round in 0..<2 {
                    let ids = Self.submitDropping(3_000, to: loop, ran: ran)
                    rounds.withLock { $0[producer].append(ids) }
                    submitted[producer][round].signal()
                    _ = proceed[round].wait()
                }
            }
        }
        for round in 0..<2 {
            for producer in 0..<2 { try submitted[producer][round].require("producer \(producer), round \(round)") }
            try Self.runUntil(loop, ran: ran, reaches: 6_000 * (round + 1))
            proceed[round].signal()
        }
        producers.forEach { $0.join() }
        let (a, b) = (rounds.value[0], rounds.value[1])
        #expect(a[0].count == 3_000 && b[0].count == 3_000, "the loop did not run during a round: all new")
        #expect(a[1] == a[0], "the second round reused every handle of the first, and allocated none")
        #expect(b[1] == b[0])
        #expect(a[0].isDisjoint(with: b[0]), "never another producer's")
    }

    @Test("local callSoon reuses the loop's own spent handles")
    func localHandlesAreReused() throws {
        let ids = try run { () async throws -> [Set<ObjectIdentifier>] in
            let loop = try getRunningLoop()
            var rounds: [Set<ObjectIdentifier>] = []
            for _ in 0..<2 {
                rounds.append(Set(try (0..<100).map { _ in ObjectIdentifier(try loop.callSoon {}) }))
                try await sleep(0)
                try await sleep(0)
            }
            return rounds
        }
        #expect(ids[0].count == 100 && ids[1] == ids[0])
    }

    @Test("handles given back to a producer that went away are freed with its lane")
    func returnedHandlesAreFreedWithTheLane() throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        let ran = Locked(0)
        let weakHandles = Locked<[WeakHandle]>([])
        let submitted = FutureTesting.Event()
        let ranAll = FutureTesting.Event()
        let keptWhileAlive = Locked(false)
        let producer = JoinableThread {
            let handles = (0..<50).map { _ in WeakHandle(try! loop.callSoonThreadsafe { ran.withLock { $0 += 1 } }) }
            weakHandles.withLock { $0 = handles }
            submitted.signal()
            _ = ranAll.wait()
            keptWhileAlive.withLock { $0 = handles.allSatisfy { $0.handle != nil } }
        }
        try submitted.require("the producer submitted")
        try Self.runUntil(loop, ran: ran, reaches: 50)
        ranAll.signal()
        producer.join()  // its lane is abandoned now
        #expect(keptWhileAlive.value, "kept for reuse while the producer lives")
        // The next iterations drop the lane (abandoned, empty), which frees what it kept.
        try loop.callSoon { try loop.callSoon { loop.stop() } }
        try loop.runForever()
        #expect(weakHandles.value.allSatisfy { $0.handle == nil })
    }

    final class WeakHandle: @unchecked Sendable {
        weak var handle: Handle?
        init(_ handle: Handle) { self.handle = handle }
    }

    @Test("a handle its caller still holds is never reused for another callback")
    func heldHandlesAreNotReused() throws {
        let loop = try EventLoop()
        let held = try (0..<100).map { _ in try loop.callSoonThreadsafe {} }
        loop.stop()  // a stop request, not a closure handle
        try loop.runForever()
        let heldIDs = Set(held.map(ObjectIdentifier.init))
        for _ in 0..<500 {
            let fresh = try loop.callSoonThreadsafe {}
            #expect(!heldIDs.contains(ObjectIdentifier(fresh)))
        }
        #expect(held.allSatisfy { !$0.isCancelled })
        try loop.close()
    }

    @Test("a recycled handle releases its captures as soon as the callback ran")
    func capturesAreReleasedAfterRun() throws {
        let loop = try EventLoop()
        weak var weakTracked: Tracked?
        do {
            let tracked = Tracked()
            weakTracked = tracked
            _ = try loop.callSoonThreadsafe { _ = tracked }
        }
        #expect(weakTracked != nil)
        try loop.callSoon { loop.stop() }
        try loop.runForever()
        #expect(weakTracked == nil)
        try loop.close()
    }

    @Test("reused handles start pending: a cancel of an earlier use does not carry over", arguments: 0..<3)
    func reusedHandlesStartPending(round: Int) throws {
        let loop = try EventLoop()
        let ran = LoopConfined(0)
        try withLoopOnThread(loop) {
            JoinableThread.runAll(2) { _ in
                for index in 0..<20_000 {
                    let handle = try! loop.callSoonThreadsafe { ran.value += 1 }
                    if index % 3 == 0 { handle.cancel() }
                }
            }
            _ = try onLoopOrNil(loop)
        }
        // Every third submission of each producer was cancelled, possibly too late; the rest ran
        // exactly once each. Cancelled-in-time ones never ran; so ran is between the two bounds.
        let uncancelled = 2 * (20_000 - (20_000 + 2) / 3)
        #expect(ran.value >= uncancelled)
        #expect(ran.value <= 40_000)
    }
}
