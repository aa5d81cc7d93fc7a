// The two event loops under test, each on a thread of its own, with the same workloads.
//
// Every workload hands N tiny callbacks to the loop; each callback increments a counter that
// only the loop thread touches, and the callback that reaches N completes a future (MultiLoop)
// or a promise (NIO) that the benchmark thread waits for. The same check-and-complete runs in
// every callback of both loops, so the per-callback work is identical.

import BenchSupport
import MultiLoop
import NIOCore
import NIOPosix

// MARK: MultiLoop

/// Loop-confined: written only by callbacks on the loop thread, except `arm`, which the
/// benchmark thread calls between iterations (ordered by the previous completion and the next
/// submission).
final class LoopCounter: @unchecked Sendable {
    var count = 0
    var target = 0
    var lastTag = 0
    var done: Future<Int>?

    @inline(__always)
    func bump() throws {
        count += 1
        if count == target { try done?.setResult(count) }
    }

    /// For callbacks that carry a value of their own.
    @inline(__always)
    func bump(tag: Int) throws {
        lastTag = tag
        try bump()
    }
}

/// How a MultiLoop producer hands over its callbacks.
enum SubmitForm: Sendable, Equatable {
    /// `callSoonThreadsafe({ (counter: LoopCounter) in ... }, counter)`: the function captures
    /// nothing, so the handle is the only allocation.
    case argument
    /// `callSoonThreadsafe { counter.bump() }`: the closure captures only loop-invariant values,
    /// so the optimiser builds its context once, outside the submit loop.
    case closure
    /// `callSoonThreadsafe { counter.bump(tag: i) }`: the closure captures a per-call value, so
    /// every call allocates a closure context besides the handle (the usual case in real code).
    case closurePerCall
    /// `callSoonThreadsafe { GlobalCounter.bump() }`: the closure captures nothing, so no
    /// reference count is touched by both threads: what remains is the hand-over itself.
    case noCapture
    /// `execute { counter.bump() }`: fire-and-forget, no handle; the hoisted context as `.closure`.
    case execute
    /// `execute { GlobalCounter.bump() }`: fire-and-forget with a closure that captures nothing.
    case executeNoCapture
    /// `execute { counter.bump(tag: i) }`: fire-and-forget, a context allocated per call.
    case executePerCall
    /// `executeBatch` of 64 `execute { GlobalCounter.bump() }` at a time: one publication per
    /// 64 callbacks.
    case executeBatchNoCapture
}

/// Loop-confined counters in globals, for the `.noCapture` form (one benchmark runs at a time).
enum GlobalCounter {
    nonisolated(unsafe) static var count = 0
    nonisolated(unsafe) static var target = 0
    nonisolated(unsafe) static var multiLoopDone: Future<Int>?
    nonisolated(unsafe) static var nioDone: EventLoopPromise<Void>?

    static func arm(target: Int) {
        count = 0
        self.target = target
    }

    @inline(__always)
    static func bumpMultiLoop() throws {
        count += 1
        if count == target { try multiLoopDone?.setResult(count) }
    }

    @inline(__always)
    static func bumpNIO() {
        count += 1
        if count == target { nioDone?.succeed(()) }
    }
}

/// A MultiLoop loop running on its own thread, plus the extra producer threads a benchmark asks
/// for (the benchmark thread itself is always producer number one).
final class MultiLoopFixture: @unchecked Sendable {
    let loop: MultiLoop.EventLoop
    let counter = LoopCounter()
    private var loopThread: JoinableThread?
    private(set) var helpers: [RepeatingWorker] = []
    /// Callbacks per producer in the current iteration (set before the helpers are started).
    var share = 0
    let form: SubmitForm

    init(extraProducers: Int = 0, form: SubmitForm = .argument) throws {
        self.form = form
        let loop = try EventLoop()
        self.loop = loop
        loopThread = JoinableThread { try? loop.runForever() }
        helpers = (0..<extraProducers).map { _ in
            RepeatingWorker(job: { [unowned self] in self.produce(self.share) })
        }
        // One round trip, so that the loop thread is up and parked in epoll before measuring.
        let ready = loop.createFuture(of: Int.self)
        try loop.callSoonThreadsafe { try ready.setResult(0) }
        _ = try ready.wait(timeout: 30)
    }

    /// Resets the counter for an iteration of `total` callbacks; returns the future that the
    /// last of them completes.
    func arm(total: Int) -> Future<Int> {
        let done = loop.createFuture(of: Int.self)
        counter.count = 0
        counter.target = total
        counter.done = done
        GlobalCounter.arm(target: total)
        GlobalCounter.multiLoopDone = done
        return done
    }

    /// Submits `count` callbacks from the calling (non-loop) thread.
    func produce(_ count: Int) {
        let loop = self.loop
        let counter = self.counter
        switch form {
        case .argument:
            for _ in 0..<count {
                try! loop.callSoonThreadsafe({ (counter: LoopCounter) in try counter.bump() }, counter)
            }
        case .closure:
            for _ in 0..<count {
                try! loop.callSoonThreadsafe { try counter.bump() }
            }
        case .closurePerCall:
            for tag in 0..<count {
                try! loop.callSoonThreadsafe { try counter.bump(tag: tag) }
            }
        case .noCapture:
            for _ in 0..<count {
                try! loop.callSoonThreadsafe { try GlobalCounter.bumpMultiLoop() }
            }
        case .execute:
            for _ in 0..<count {
                try! loop.execute { try counter.bump() }
            }
        case .executeNoCapture:
            for _ in 0..<count {
                try! loop.execute { try GlobalCounter.bumpMultiLoop() }
            }
        case .executePerCall:
            for tag in 0..<count {
                try! loop.execute { try counter.bump(tag: tag) }
            }
        case .executeBatchNoCapture:
            var left = count
            while left > 0 {
                let size = min(64, left)
                try! loop.executeBatch { batch in
                    for _ in 0..<size { batch.execute { try GlobalCounter.bumpMultiLoop() } }
                }
                left -= size
            }
        }
    }

    /// On the loop thread: `share` local `callSoon`s.
    static func scheduleLocally(_ fixture: MultiLoopFixture) throws {
        let loop = fixture.loop
        let counter = fixture.counter
        for _ in 0..<fixture.share {
            try loop.callSoon({ (counter: LoopCounter) in try counter.bump() }, counter)
        }
    }

    /// On the loop thread: `share` timers due now.
    static func scheduleTimers(_ fixture: MultiLoopFixture) throws {
        let loop = fixture.loop
        let counter = fixture.counter
        for _ in 0..<fixture.share {
            try loop.callLater(0, { (counter: LoopCounter) in try counter.bump() }, counter)
        }
    }

    func shutdown() throws {
        helpers.forEach { $0.shutdown() }
        helpers = []
        loop.stop()
        loopThread?.join()
        loopThread = nil
        try loop.close()
    }
}

// MARK: SwiftNIO

/// Loop-confined, as `LoopCounter`.
final class NIOCounter: @unchecked Sendable {
    var count = 0
    var target = 0
    var lastTag = 0
    var done: EventLoopPromise<Void>?

    @inline(__always)
    func bump() {
        count += 1
        if count == target { done?.succeed(()) }
    }

    @inline(__always)
    func bump(tag: Int) {
        lastTag = tag
        bump()
    }
}

/// A one-thread `MultiThreadedEventLoopGroup` and the extra producer threads.
final class NIOFixture: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let eventLoop: any NIOCore.EventLoop
    let counter = NIOCounter()
    private(set) var helpers: [RepeatingWorker] = []
    var share = 0
    /// `.closure` or `.closurePerCall` (NIO has no argument form).
    let form: SubmitForm

    init(extraProducers: Int = 0, form: SubmitForm = .closure) throws {
        precondition(form != .argument, "NIO's execute takes a closure")
        self.form = form
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        eventLoop = group.next()
        helpers = (0..<extraProducers).map { _ in
            RepeatingWorker(job: { [unowned self] in self.produce(self.share) })
        }
        try eventLoop.submit {}.wait()
    }

    func arm(total: Int) -> EventLoopPromise<Void> {
        let done = eventLoop.makePromise(of: Void.self)
        counter.count = 0
        counter.target = total
        counter.done = done
        GlobalCounter.arm(target: total)
        GlobalCounter.nioDone = done
        return done
    }

    func produce(_ count: Int) {
        let eventLoop = self.eventLoop
        let counter = self.counter
        if form == .closurePerCall {
            for tag in 0..<count {
                eventLoop.execute { counter.bump(tag: tag) }
            }
        } else if form == .noCapture {
            for _ in 0..<count {
                eventLoop.execute { GlobalCounter.bumpNIO() }
            }
        } else {
            for _ in 0..<count {
                eventLoop.execute { counter.bump() }
            }
        }
    }

    static func scheduleLocally(_ fixture: NIOFixture) {
        let eventLoop = fixture.eventLoop
        let counter = fixture.counter
        for _ in 0..<fixture.share {
            eventLoop.execute { counter.bump() }
        }
    }

    static func scheduleTimers(_ fixture: NIOFixture) {
        let eventLoop = fixture.eventLoop
        let counter = fixture.counter
        for _ in 0..<fixture.share {
            eventLoop.scheduleTask(in: .zero) { counter.bump() }
        }
    }

    func shutdown() async throws {
        helpers.forEach { $0.shutdown() }
        helpers = []
        try await group.shutdownGracefully()
    }
}

/// Keeps a benchmark's fixture between its setup and teardown hooks.
final class FixtureSlot<Fixture>: @unchecked Sendable {
    var fixture: Fixture?
}
