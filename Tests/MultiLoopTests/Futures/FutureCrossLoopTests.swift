import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// Futures shared between two loops running on two threads.
@Suite("Futures across loops", .timeLimit(.minutes(5)))
struct FutureCrossLoopTests {
    typealias Event = FutureTesting.Event
    typealias LoopThread = FutureTesting.LoopThread
    typealias Place = FutureTesting.Place

    @Test("a future of loop A completed by a callback of loop B runs its done callback on A's thread",
          arguments: 0..<5)
    func completedByAnotherLoop(repetition: Int) throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let loops = [a.loop, b.loop]
        let future = a.loop.createFuture(of: Int.self)
        let places = Locked<[Place]>([])
        let value = Locked<Int?>(nil)
        let ran = Event()
        try a.sync {
            try future.addDoneCallback { future in
                places.withLock { $0.append(.here(among: loops)) }
                value.withLock { $0 = try? future.result() }
                ran.signal()
            }
        }
        try b.loop.callSoon { try future.setResult(repetition) }
        try ran.require("the done callback on A")
        try a.drain()
        #expect(places.value == [.loopThread(0, of: loops)])
        #expect(value.value == repetition)
    }

    @Test("a chain of futures hopping A -> B -> A ... 1000 times runs each hop on the right loop, exactly once",
          arguments: 0..<3)
    func pingPong(repetition: Int) throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let hops = 1000
        let chain = PingPong(loops: [a.loop, b.loop], hops: hops)
        try chain.hop(0, value: 0)
        try chain.finished.require("the last hop")
        #expect(chain.runs.value == hops)
        #expect(chain.misplaced.value == [])
        #expect(chain.lastValue.value == hops - 1)
        #expect(chain.errors.value.isEmpty)
    }

    @Test("two chains crossing in opposite directions between two loops both complete, with exact counts")
    func crossingChains() throws {
        let a = try LoopThread(), b = try LoopThread()
        defer { a.shutDown(); b.shutDown() }
        let hops = 500
        let forward = PingPong(loops: [a.loop, b.loop], hops: hops)
        let backward = PingPong(loops: [b.loop, a.loop], hops: hops)
        try forward.hop(0, value: 0)
        try backward.hop(0, value: 0)
        try forward.finished.require("the forward chain")
        try backward.finished.require("the backward chain")
        for chain in [forward, backward] {
            #expect(chain.runs.value == hops)
            #expect(chain.misplaced.value == [])
            #expect(chain.lastValue.value == hops - 1)
            #expect(chain.errors.value.isEmpty)
        }
    }
}

/// Hop `i` makes a future of `loops[i % 2]`, registers a done callback on that loop, and
/// completes the future from wherever it is called (the test thread for hop 0, then the other
/// loop's thread). The callback checks where it runs, then starts hop `i + 1`.
private final class PingPong: Sendable {
    let loops: [EventLoop]
    let hops: Int
    let runs = Locked(0)
    let misplaced = Locked<[Int]>([])
    let errors = Locked<[String]>([])
    let lastValue = Locked<Int?>(nil)
    let finished = FutureTesting.Event()

    init(loops: [EventLoop], hops: Int) {
        self.loops = loops
        self.hops = hops
    }

    func hop(_ index: Int, value: Int) throws {
        let owner = index % 2
        let loop = loops[owner]
        let future = loop.createFuture(of: Int.self)
        try future.addDoneCallback(on: loop) { [self] future in
            runs.withLock { $0 += 1 }
            if FutureTesting.Place.here(among: loops) != .loopThread(owner, of: loops) {
                misplaced.withLock { $0.append(index) }
            }
            let received = try future.result()
            if index + 1 < hops {
                do {
                    try hop(index + 1, value: received + 1)
                } catch {
                    errors.withLock { $0.append("hop \(index + 1): \(error)") }
                    finished.signal()
                }
            } else {
                lastValue.withLock { $0 = received }
                finished.signal()
            }
        }
        try future.setResult(value)
    }
}
