import Testing
import CMultiLoopSystem
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// A bare inbox node carrying a producer id and a sequence number.
final class TestNode: InboxNode, @unchecked Sendable {
    var inboxNext: UnsafeMutableRawPointer? = nil
    let producer: Int
    let sequence: Int
    init(producer: Int = 0, sequence: Int) {
        self.producer = producer
        self.sequence = sequence
    }
}

/// An inbox with its own head word, freed when the test is done with it.
final class TestInbox: @unchecked Sendable {
    let words = CacheAlignedWords(lines: 1)
    var inbox: MPSCInbox<TestNode> { MPSCInbox(head: words.word(line: 0)) }
    deinit { _ = inbox.close() }
}

extension InboxBatch where Node == TestNode {
    mutating func drainSequences() -> [Int] {
        var result: [Int] = []
        while let node = next() { result.append(node.sequence) }
        return result
    }
}

@Suite("The MPSC inbox", .timeLimit(.minutes(5)))
struct MPSCInboxTests {
    @Test("takeAll hands nodes out oldest first")
    func takeAllIsFIFO() {
        let box = TestInbox()
        for sequence in 0..<100 { #expect(box.inbox.push(TestNode(sequence: sequence)) == .accepted) }
        var batch = box.inbox.takeAll()
        #expect(batch.count == 100)
        #expect(batch.drainSequences() == Array(0..<100))
        let empty = box.inbox.takeAll()
        let emptyIsEmpty = empty.isEmpty
        #expect(emptyIsEmpty)
            }

    @Test("sleeping: only the first push after EMPTY -> SLEEPING is told to wake the consumer")
    func onlyOnePushWakes() {
        let box = TestInbox()
        #expect(box.inbox.prepareToSleep())
        #expect(box.inbox.push(TestNode(sequence: 0)) == .acceptedConsumerSleeping)
        #expect(box.inbox.push(TestNode(sequence: 1)) == .accepted)
        var batch = box.inbox.finishSleeping()
        #expect(batch.drainSequences() == [0, 1])
        // A sleep that nobody interrupts (a timeout) leaves the inbox EMPTY again.
        #expect(box.inbox.prepareToSleep())
        let nothing = box.inbox.finishSleeping()
        let nothingIsEmpty = nothing.isEmpty
        #expect(nothingIsEmpty)
        #expect(box.inbox.push(TestNode(sequence: 2)) == .accepted)
    }

    @Test("the consumer cannot go to sleep while work is waiting")
    func noSleepWithPendingWork() {
        let box = TestInbox()
        _ = box.inbox.push(TestNode(sequence: 0))
        #expect(!box.inbox.prepareToSleep())
        #expect(box.inbox.hasPendingWork)
        var batch = box.inbox.takeAll()
        #expect(batch.drainSequences() == [0])
    }

    @Test("close returns what was accepted; later pushes are refused and not retained")
    func closeRefusesLaterPushes() {
        let box = TestInbox()
        _ = box.inbox.push(TestNode(sequence: 0))
        _ = box.inbox.push(TestNode(sequence: 1))
        var leftover = box.inbox.close()
        #expect(leftover.drainSequences() == [0, 1])
        #expect(box.inbox.isClosed)
        weak var refused: TestNode?
        do {
            let node = TestNode(sequence: 2)
            refused = node
            #expect(box.inbox.push(node) == .rejectedClosed)
        }
        #expect(refused == nil)  // the refused push kept no reference
        #expect(!box.inbox.prepareToSleep())
        let again = box.inbox.close()
        let againIsEmpty = again.isEmpty
        #expect(againIsEmpty)
    }

    @Test("a dropped batch releases the nodes it still holds")
    func droppedBatchReleasesNodes() {
        let box = TestInbox()
        weak var tracked: TestNode?
        do {
            let node = TestNode(sequence: 0)
            tracked = node
            _ = box.inbox.push(node)
        }
        #expect(tracked != nil)
        do { _ = box.inbox.takeAll() }
        #expect(tracked == nil)
    }

    @Test("4 producers and a spinning consumer: every node exactly once, FIFO per producer", arguments: 0..<3)
    func concurrentProducersExactlyOnce(round: Int) {
        let box = TestInbox()
        let producers = 4
        let perProducer = 25_000
        let consumer = JoinableThread {
            var next = [Int](repeating: 0, count: producers)
            var received = 0
            var violations = 0
            while received < producers * perProducer {
                var batch = box.inbox.takeAll()
                while let node = batch.next() {
                    if node.sequence != next[node.producer] { violations += 1 }
                    next[node.producer] = node.sequence + 1
                    received += 1
                }
            }
            #expect(violations == 0)
            #expect(next == [Int](repeating: perProducer, count: producers))
        }
        JoinableThread.runAll(producers) { producer in
            for sequence in 0..<perProducer {
                _ = box.inbox.push(TestNode(producer: producer, sequence: sequence))
            }
        }
        consumer.join()
        let rest = box.inbox.takeAll()
        let restIsEmpty = rest.isEmpty
        #expect(restIsEmpty)
    }

    @Test("producers racing a sleeping consumer: exactly one wake-up per sleep, nothing lost", arguments: 0..<3)
    func sleepWakeRace(round: Int) throws {
        let box = TestInbox()
        let waker = try EventLoopWaker()
        let producers = 3
        let perProducer = 5_000
        let wakeCount = Locked(0)
        let sleeps = LoopConfined(0)
        let consumer = JoinableThread {
            var received = 0
            while received < producers * perProducer {
                var batch: InboxBatch<TestNode>
                if box.inbox.prepareToSleep() {
                    sleeps.value += 1
                    waker.sleep(timeoutNanoseconds: -1)  // no timeout: a lost wake-up would hang here
                    batch = box.inbox.finishSleeping()
                } else {
                    batch = box.inbox.takeAll()
                }
                while batch.next() != nil { received += 1 }
            }
        }
        JoinableThread.runAll(producers) { producer in
            for sequence in 0..<perProducer {
                if box.inbox.push(TestNode(producer: producer, sequence: sequence)) == .acceptedConsumerSleeping {
                    wakeCount.withLock { $0 += 1 }
                    waker.wake()
                }
            }
        }
        consumer.join()
        #expect(wakeCount.value <= sleeps.value)
    }
}
