import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// A reader belongs to one loop: reads from other executors hop to it and come back, feeds
/// from other threads are forwarded in order, other threads read snapshots, a closed loop is a
/// typed error, and a cancellation from any thread loses nothing.
@Suite("StreamReader (asyncio.StreamReader): threads and executors", .timeLimit(.minutes(5)))
struct StreamReaderThreadTests {
    typealias T = StreamTesting
    typealias LoopThread = FutureTesting.LoopThread

    @Test("a task of another loop reads (hopping to the reader's loop) and goes on on its own loop")
    func readFromAnotherLoop() async throws {
        let outcome = await offThePool { () -> Result<Bool, any Error> in
            Result {
                try SyncTesting.withLoops(2) { loops in
                    let (home, other) = (loops[0].loop, loops[1].loop)
                    let reader = try StreamReader(loop: home)
                    let task = other.createTask { () async throws -> [UInt8] in
                        let line = try await reader.readLine()
                        #expect(other.isOnLoopThread && !home.isOnLoopThread, "back on its own loop")
                        #expect(try getRunningLoop() === other)
                        try await sleep(0)
                        #expect(other.isOnLoopThread, "and it stays there")
                        return line
                    }
                    try reader.feedData(T.bytes("hel"))  // forwarded from this thread
                    try reader.feedData(T.bytes("lo\nrest"))
                    #expect(try SyncTesting.outcome(of: task).get() == T.bytes("hello\n"))
                    try settle(home)
                    #expect(reader.bufferedCount == 4, "a snapshot from this thread")
                    return true
                }
            }
        }
        #expect(try outcome.get())
    }

    @Test("a plain Swift task, a detached one and an actor read from a loop's reader")
    func readFromPlainTasks() async throws {
        let loopThread = try LoopThread()
        defer { loopThread.shutDown() }
        let reader = try StreamReader(loop: loopThread.loop)
        let plain = Task { try await reader.readExactly(3) }
        try reader.feedData(T.bytes("abc"))
        #expect(try await T.value(of: plain) == T.bytes("abc"))
        let detached = Task.detached { try await reader.readLine() }
        try reader.feedData(T.bytes("line\n"))
        #expect(try await T.value(of: detached) == T.bytes("line\n"))
        actor Consumer {
            var lines: [[UInt8]] = []
            func consume(_ reader: StreamReader) async throws {
                for try await line in reader { lines.append(line) }
            }
        }
        let consumer = Consumer()
        let consuming = Task { try await consumer.consume(reader) }
        try reader.feedData(T.bytes("1\n2\n3"))
        try reader.feedEOF()
        try await T.value(of: consuming)
        #expect(await consumer.lines == ["1\n", "2\n", "3"].map(T.bytes))
        try settle(loopThread.loop)
        #expect(reader.isAtEOF)
    }

    /// An actor whose jobs run on the loop (its executor is the loop's).
    actor PinnedToLoop {
        let loop: EventLoop
        init(loop: EventLoop) { self.loop = loop }
        nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
        func readLine(_ reader: StreamReader) async throws -> (line: [UInt8], onLoop: Bool) {
            let line = try await reader.readLine()
            return (line, loop.isOnLoopThread)
        }
    }

    /// A default actor; called from a loop task, it runs on the loop's thread too.
    actor PlainActor {
        private(set) var reads = 0
        func readExactly(_ reader: StreamReader, _ n: Int) async throws -> [UInt8] {
            let bytes = try await reader.readExactly(n)
            reads += 1
            return bytes
        }
    }

    struct NoWaiter: Error {}

    // The reads are `nonisolated(nonsending)`: called from an actor, they start in the actor's
    // isolation, on the loop's thread here, and must still wait and resume on the loop
    // (through `viaLoop`), then return to the actor.
    @Test("actors on the loop's thread (one on the loop's executor, a default one) read, wait and resume")
    func actorsOnTheLoopThread() async throws {
        let outcome = await offThePool { () -> Result<Bool, any Error> in
            Result {
                try SyncTesting.withLoops(1) { loops in
                    let loop = loops[0].loop
                    let reader = try StreamReader(loop: loop)
                    let pinned = PinnedToLoop(loop: loop)
                    let plain = PlainActor()
                    let reads = loop.createTask { () async throws -> [[UInt8]] in
                        let (line, onLoop) = try await pinned.readLine(reader)
                        #expect(onLoop, "the pinned actor resumed on the loop")
                        let bytes = try await plain.readExactly(reader, 5)
                        #expect(loop.isOnLoopThread, "the loop task is back on its loop")
                        #expect(await plain.reads == 1)
                        return [line, bytes]
                    }
                    // Each chunk is fed only while a read waits: four waits, four resumptions.
                    let feeder = loop.createTask { () async throws -> Int in
                        var fed = 0
                        for chunk in ["pin", "ned\n", "pla", "in"] {
                            var turns = 0
                            while reader.hasWaiter != true {
                                turns += 1
                                if turns > 100_000 { throw NoWaiter() }
                                try await sleep(0)
                            }
                            try reader.feedData(T.bytes(chunk))
                            fed += 1
                        }
                        return fed
                    }
                    #expect(try SyncTesting.outcome(of: reads).get() == [T.bytes("pinned\n"), T.bytes("plain")])
                    #expect(try SyncTesting.outcome(of: feeder).get() == 4)
                    return true
                }
            }
        }
        #expect(try outcome.get())
    }

    /// A default actor that another thread can hold busy while a read resumes.
    actor Contended {
        func readExactly(_ reader: StreamReader, _ n: Int) async throws -> [UInt8] {
            try await reader.readExactly(n)
        }
        /// Holds the actor (on the calling loop task's thread) until `release` is set, 10 s at most.
        func hold(_ holding: SyncFlag, until release: SyncFlag) {
            holding.set()
            _ = release.wait(seconds: 10)
        }
    }

    final class SyncFlag: @unchecked Sendable {
        private let word = Atomic<Bool>(false)
        func set() { word.store(true, ordering: .releasing) }
        var isSet: Bool { word.load(ordering: .acquiring) }
        /// Spins until set, `seconds` at most; whether it was set.
        func wait(seconds: Double) -> Bool {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while !isSet {
                if ContinuousClock.now > deadline { return false }
                sched_yield()
            }
            return true
        }
    }

    // A read called from a default actor resumes, after its wait, where the actor's next job
    // runs: on a thread of the global pool when another task holds the actor there. So it must
    // not run in place on the loop's thread (`mayReadHere` requires a nonisolated caller): the
    // rest of the read would touch the reader off its loop (the debug build's assertion).
    @Test("a default actor busy on another thread when a read resumes: the read still resumes on the loop")
    func contendedActorRead() async throws {
        let outcome = await offThePool { () -> Result<Bool, any Error> in
            Result {
                try SyncTesting.withLoops(2) { loops in
                    let (loop, holderLoop) = (loops[0].loop, loops[1].loop)
                    let reader = try StreamReader(loop: loop)
                    let actor = Contended()
                    let (holding, release) = (SyncFlag(), SyncFlag())
                    let read = loop.createTask { try await actor.readExactly(reader, 3) }
                    let waiting = loop.createTask { () async throws -> Bool in
                        var turns = 0
                        while reader.hasWaiter != true {
                            turns += 1
                            if turns > 100_000 { throw NoWaiter() }
                            try await sleep(0)
                        }
                        return true
                    }
                    #expect(try SyncTesting.outcome(of: waiting).get())
                    // Another loop's task holds the actor, spinning on that loop's thread.
                    let holder = holderLoop.createTask { await actor.hold(holding, until: release) }
                    try #require(holding.wait(seconds: 10), "the actor is held")
                    try reader.feedData(T.bytes("abc"))
                    try settle(loop)  // the read's resumption is enqueued on the busy actor
                    release.set()
                    try SyncTesting.outcome(of: holder).get()
                    #expect(try SyncTesting.outcome(of: read).get() == T.bytes("abc"))
                    return true
                }
            }
        }
        #expect(try outcome.get())
    }

    @Test("a task started on the loop's thread without the loop as preference (Task.immediate) reads safely")
    func immediateTaskOnLoopThread() async throws {
        let loopThread = try LoopThread()
        defer { loopThread.shutDown() }
        let loop = loopThread.loop
        let reader = try StreamReader(loop: loop)
        let result = Future<[UInt8]>(loop: loop)
        try loop.execute {
            Task.immediate {
                // Starts here, on the loop's thread, but would resume on the global executor:
                // the read must still touch the reader only on the loop.
                do { try result.setResult(try await reader.readLine()) } catch { try? result.setException(error) }
            }
        }
        try reader.feedData(T.bytes("immediate\n"))
        #expect(try await T.value(of: Task { try await result.value }) == T.bytes("immediate\n"))
    }

    @Test("feeds from several threads are forwarded in each thread's order; feedEOF after settling")
    func forwardedFeedsKeepOrder() async throws {
        let outcome = await offThePool { () -> Result<[UInt8], any Error> in
            Result {
                let loopThread = try LoopThread()
                defer { loopThread.shutDown() }
                let reader = try StreamReader(limit: 64, loop: loopThread.loop)
                let transport = T.FakeTransport()
                try loopThread.sync { reader.transport = transport }
                let all = loopThread.loop.createTask { try await reader.read() }
                JoinableThread.runAll(3) { producer in
                    for sequence in 0..<400 {
                        try! reader.feedData([UInt8(producer), UInt8(sequence >> 8), UInt8(sequence & 0xFF), 0xEE])
                    }
                }
                try settle(loopThread.loop)  // every feed has run: only now is the end after them
                try reader.feedEOF()
                return try SyncTesting.outcome(of: all).get()
            }
        }
        let bytes = try outcome.get()
        #expect(bytes.count == 3 * 400 * 4)
        var next = [0, 0, 0]
        for record in stride(from: 0, to: bytes.count, by: 4) {
            let producer = Int(bytes[record])
            let sequence = Int(bytes[record + 1]) << 8 | Int(bytes[record + 2])
            #expect(sequence == next[producer] && bytes[record + 3] == 0xEE, "record \(record / 4)")
            next[producer] += 1
        }
        #expect(next == [400, 400, 400])
    }

    @Test("from another thread, the state is a snapshot of what the loop has done")
    func snapshotsFromAnotherThread() throws {
        let loopThread = try LoopThread()
        defer { loopThread.shutDown() }
        let reader = try StreamReader(limit: 10, loop: loopThread.loop)
        try reader.feedData(T.bytes("abc"))
        try loopThread.drain()
        #expect(reader.bufferedCount == 3 && !reader.isAtEOF && reader.exception == nil)
        #expect(reader.description == "<StreamReader 3 bytes limit=10>")
        #expect(reader.bufferedBytes == nil, "the white-box views answer on the loop's thread only")
        try reader.feedEOF()
        try loopThread.drain()
        #expect(!reader.isAtEOF && reader.description == "<StreamReader 3 bytes eof limit=10>")
        let read = loopThread.loop.createTask { try await reader.read() }
        #expect(try SyncTesting.outcome(of: read).get() == T.bytes("abc"))
        #expect(reader.isAtEOF && reader.bufferedCount == 0)
        try reader.setException(TestError(code: 8))
        try loopThread.drain()
        #expect(reader.exception as? TestError == TestError(code: 8))
        #expect(reader.description == "<StreamReader eof limit=10 exception=TestError(code: 8)>")
    }

    @Test("a forwarded feed after the end goes to the loop's exception handler")
    func forwardedFeedAfterEOFIsReported() throws {
        let loopThread = try LoopThread()
        defer { loopThread.shutDown() }
        let log = ErrorLog()
        log.install(on: loopThread.loop)
        let reader = try StreamReader(loop: loopThread.loop)
        try reader.feedData(T.bytes("a"))
        try reader.feedEOF()
        try reader.feedData(T.bytes("b"))
        try loopThread.drain()
        #expect(log.count == 1)
        #expect(log.all.first?.error as? StreamError == .feedAfterEOF)
        #expect(try loopThread.sync { reader.bufferedBytes } == T.bytes("a"))
    }

    @Test("a closed loop: forwarded calls and reads throw loopClosed; snapshots still answer")
    func closedLoop() async throws {
        let loop = try EventLoop()
        let reader = try StreamReader(loop: loop)
        try loop.close()
        #expect(throws: StreamError.loopClosed) { try reader.feedData(T.bytes("x")) }
        #expect(throws: StreamError.loopClosed) { try T.bytes("x").withUnsafeBytes { try reader.feedData($0) } }
        #expect(throws: StreamError.loopClosed) { try reader.feedEOF() }
        #expect(throws: StreamError.loopClosed) { try reader.setException(TestError(code: 1)) }
        #expect(throws: StreamError.loopClosed) { _ = try reader.feed(capacity: 4) { _ in 1 } }
        await #expect(throws: StreamError.loopClosed) { try await reader.read(1) }
        await #expect(throws: StreamError.loopClosed) { try await reader.readLine() }
        #expect(!reader.isAtEOF && reader.bufferedCount == 0 && reader.exception == nil)
        #expect(reader.description == "<StreamReader>")
        #expect(StreamError.loopClosed.description == "the reader's event loop is closed")
    }

    @Test("a loop that is not running yet: forwarded feeds and a waiting read run once it runs")
    func loopNotRunningYet() throws {
        let outcome = FutureTesting.onNewThread { () throws -> [UInt8] in
            let loop = try EventLoop()
            defer { _ = try? loop.close() }
            let reader = try StreamReader(loop: loop)
            try reader.feedData(T.bytes("before\n"))  // the asyncio tests' order: feed, then run
            try reader.feedEOF()
            #expect(!reader.isAtEOF && reader.bufferedCount == 0, "forwarded: not applied yet")
            try FutureTesting.armWatchdog(loop)
            let lines = loop.createTask { try await reader.readLine() + reader.readLine() }
            return try loop.runUntilComplete(lines.future)
        }
        #expect(try outcome.get() == T.bytes("before\n"))
    }

    @Test("a waiting read cancelled from another thread ends, and the reader goes on")
    func cancelFromAnotherThread() throws {
        let loopThread = try LoopThread()
        defer { loopThread.shutDown() }
        let reader = try StreamReader(loop: loopThread.loop)
        let read = loopThread.loop.createTask { try await reader.readExactly(4) }
        try SyncTesting.waitUntil("the read waits") { (try? loopThread.sync { reader.hasWaiter }) == true }
        try reader.feedData(T.bytes("ab"))
        read.cancel()
        #expect(SyncTesting.wasCancelled(try SyncTesting.outcome(of: read)))
        try reader.feedData(T.bytes("cd"))
        let next = loopThread.loop.createTask { try await reader.readExactly(4) }
        #expect(try SyncTesting.outcome(of: next).get() == T.bytes("abcd"))
    }

    @Test("reads cancelled at random points from another thread, while another thread feeds: nothing lost",
          arguments: [11, 12] as [UInt64])
    func cancellationLosesNothing(seed: UInt64) async throws {
        let records = 20_000
        let outcome = await offThePool { () -> Result<(received: [[UInt8]], rounds: Int), any Error> in
            Result {
                let loopThread = try LoopThread()
                defer { loopThread.shutDown() }
                let loop = loopThread.loop
                let reader = try StreamReader(limit: 16, loop: loop)
                let transport = T.FakeTransport()
                try loopThread.sync { reader.transport = transport }
                let received = Locked<[[UInt8]]>([])
                let producer = JoinableThread {
                    for index in 0..<records {
                        try! reader.feedData([UInt8(index >> 8), UInt8(index & 0xFF), 0xAB, 0xCD])
                        if index % 64 == 0 { sched_yield() }
                    }
                }
                defer { producer.join() }
                var random = StressRandom(seed: seed)
                var rounds = 0
                while received.value.count < records {
                    rounds += 1
                    try #require(rounds < 100_000, "the reads made no progress")
                    let consumer = loop.createTask {
                        while true {
                            let record = try await reader.readExactly(4)
                            received.withLock { $0.append(record) }
                        }
                    }
                    usleep(UInt32(random.below(200)))
                    consumer.cancel()
                    let ended = try SyncTesting.outcome(of: consumer)
                    try #require(SyncTesting.wasCancelled(ended), "a consumer ended with \(ended)")
                }
                return (received.value, rounds)
            }
        }
        let (received, rounds) = try outcome.get()
        #expect(rounds > 1, "at least one cancellation in the middle")
        #expect(received.count == records)
        for (index, record) in received.enumerated() where record != [UInt8(index >> 8), UInt8(index & 0xFF), 0xAB, 0xCD] {
            Issue.record("record \(index) is \(record)")
            break
        }
    }
}
