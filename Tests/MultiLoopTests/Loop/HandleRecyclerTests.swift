import Testing
@testable import MultiLoop

/// Counts the spare handles a recycler holds, taking them (the test's thread then owns them).
private func takeSpares(_ recycler: HandleRecycler) -> Int {
    var count = 0
    var chain = recycler.takeAll()
    while let handle = InboxChain.unlinkFirst(&chain, as: ClosureHandle.self) {
        #expect(handle.body == nil)
        #expect(!handle.isCancelled)
        count += 1
    }
    return count
}

final class Tracked: @unchecked Sendable {}

@Suite("Recycling spent closure handles")
struct HandleRecyclerTests {
    @Test("spent handles nobody holds go back to the recycler, bounded by its capacity")
    func spentHandlesAreRecycledWithinCapacity() throws {
        let loop = try EventLoop()
        // Submitted from other threads, dropped at once, run in one batch.
        JoinableThread.runAll(2) { _ in
            for _ in 0..<3_000 { _ = try! loop.callSoonThreadsafe {} }
        }
        try loop.callSoon { loop.stop() }
        try loop.runForever()
        let spares = takeSpares(loop.recycler)
        #expect(spares > 0)
        #expect(spares <= HandleRecycler.capacity)
        try loop.close()
    }

    @Test("a handle its caller still holds is never reused for another callback")
    func heldHandlesAreNotReused() throws {
        let loop = try EventLoop()
        let held = try (0..<100).map { _ in try loop.callSoonThreadsafe {} }
        loop.stop()  // a stop request, not a closure handle
        try loop.runForever()
        #expect(takeSpares(loop.recycler) == 0)
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
