import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// An item that counts how many of its kind are alive, to prove the lane neither leaks nor
/// destroys twice.
private final class Counted: @unchecked Sendable {
    let sequence: Int
    private let alive: Locked<Int>

    init(_ sequence: Int, alive: Locked<Int>) {
        self.sequence = sequence
        self.alive = alive
        alive.withLock { $0 += 1 }
    }

    deinit { alive.withLock { $0 -= 1 } }
}

@Suite("A producer's lane (InboxLane)", .timeLimit(.minutes(5)))
struct InboxLaneTests {
    private let segment = InboxLane<Int>.segmentCapacity

    @Test("a drain with a limit takes at most that many, oldest first, and leaves the rest pending")
    func drainWithLimit() {
        let lane = InboxLane<Int>()
        let total = 2 * segment + 5
        for item in 0..<total { #expect(lane.push(item)) }
        var seen: [Int] = []
        #expect(lane.drain(limit: 0) { seen.append($0) } == 0)
        #expect(lane.drain(limit: segment + 3) { seen.append($0) } == segment + 3)
        #expect(lane.hasPendingItems)
        #expect(lane.drain(limit: segment) { seen.append($0) } == segment)
        #expect(lane.drain(limit: .max) { seen.append($0) } == 2)
        #expect(!lane.hasPendingItems)
        #expect(seen == Array(0..<total))
    }

    @Test("items come out in the order they went in, across many segments, each exactly once")
    func fifoAcrossSegments() {
        let lane = InboxLane<Int>()
        var seen: [Int] = []
        var next = 0
        // Uneven batches, so drains stop and start at every offset of a segment.
        for batch in [1, segment - 1, segment, segment + 1, 3 * segment + 7, 5] {
            for _ in 0..<batch {
                #expect(lane.push(next))
                next += 1
            }
            #expect(lane.hasPendingItems)
            let taken = lane.drain { seen.append($0) }
            #expect(taken == batch)
            #expect(!lane.hasPendingItems)
        }
        #expect(seen == Array(0..<next))
        #expect(lane.drain { _ in Issue.record("nothing is left") } == 0)
    }

    @Test("close hands over exactly what was published before it; later pushes are refused and destroyed")
    func closeLosesNothingAndRefusesAfter() {
        let alive = Locked(0)
        let lane = InboxLane<Counted>()
        for sequence in 0..<(segment + 10) { #expect(lane.push(Counted(sequence, alive: alive))) }
        _ = lane.drain { item in #expect(item.sequence < segment + 10) }
        for sequence in 0..<5 { #expect(lane.push(Counted(1_000 + sequence, alive: alive))) }
        var closedWith: [Int] = []
        #expect(lane.close { closedWith.append($0.sequence) } == 5)
        #expect(closedWith == [1_000, 1_001, 1_002, 1_003, 1_004])
        #expect(lane.isClosed)
        #expect(!lane.push(Counted(2_000, alive: alive)))
        #expect(lane.close { _ in Issue.record("a second close takes nothing") } == 0)
        #expect(alive.value == 0, "every item was released exactly once, refused ones included")
    }

    @Test("a lane dropped with items still in it releases them")
    func droppedLaneReleasesItems() {
        let alive = Locked(0)
        do {
            let lane = InboxLane<Counted>()
            for sequence in 0..<(2 * segment + 3) { #expect(lane.push(Counted(sequence, alive: alive))) }
            _ = lane.drain { _ in }
            for sequence in 0..<(segment + 1) { #expect(lane.push(Counted(sequence, alive: alive))) }
            #expect(alive.value == segment + 1)
        }
        #expect(alive.value == 0)
    }

    @Test("abandon is seen by the consumer")
    func abandonIsVisible() {
        let lane = InboxLane<Int>()
        #expect(!lane.isAbandoned)
        lane.abandon()
        #expect(lane.isAbandoned)
    }

    @Test("a producer and a consumer on two threads: every item exactly once, in order", arguments: 0..<5)
    func concurrentProducerAndConsumer(round: Int) {
        let lane = InboxLane<Int>()
        let count = 200_000
        let producer = JoinableThread {
            for sequence in 0..<count { _ = lane.push(sequence) }
        }
        var expected = 0
        var disorder = 0
        while expected < count {
            _ = lane.drain { item in
                if item != expected { disorder += 1 }
                expected += 1
            }
        }
        producer.join()
        #expect(expected == count)
        #expect(disorder == 0)
        #expect(!lane.hasPendingItems)
    }

    @Test("a close racing with a producer: accepted == taken, refused == the rest", arguments: 0..<20)
    func closeRacingProducer(round: Int) {
        let lane = InboxLane<Int>()
        let accepted = Locked(0)
        let producer = JoinableThread {
            var count = 0
            for sequence in 0..<50_000 where lane.push(sequence) { count += 1 }
            accepted.withLock { $0 = count }
        }
        var taken = 0
        var expected = 0
        var disorder = 0
        let consume: (Int) -> Void = { item in
            if item != expected { disorder += 1 }
            expected += 1
            taken += 1
        }
        for _ in 0..<(round * 10) { _ = lane.drain(consume) }
        _ = lane.close(consume)
        producer.join()
        #expect(taken == accepted.value)
        #expect(disorder == 0)
        // Accepted pushes form a prefix: once refused, always refused.
        #expect(expected == accepted.value)
    }
}
