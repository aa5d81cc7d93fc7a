import _MultiLoopInbox
import _MultiLoopSystem

/// Callbacks handed to one loop together: what `EventLoop.executeBatch` passes to its body.
///
/// Add callbacks with `execute(_:)`; they are handed over when the body returns, all at once.
/// Only valid inside that body (it cannot escape it), on the thread that called
/// `executeBatch`.
public struct EventLoopBatch: ~Copyable {
    let loop: EventLoop
    /// The calling thread's lane into the loop, or nil when the caller is the loop's own thread
    /// (then the callbacks go straight to the ready queue).
    let lane: Unmanaged<InboxLane<LoopWork>>?
    /// How many callbacks were added.
    public private(set) var count = 0

    init(loop: EventLoop, lane: Unmanaged<InboxLane<LoopWork>>?) {
        self.loop = loop
        self.lane = lane
    }

    /// Adds `callback` to the batch. It runs on the loop, after the callbacks added before it
    /// (and whatever the calling thread handed over before the batch), exactly once, if the
    /// batch is accepted.
    public mutating func execute(file: StaticString = #fileID, line: UInt = #line,
                                 _ callback: consuming @escaping @Sendable () throws -> Void) {
        let work = LoopWork.closure(callback, CallbackLocation(file: file, line: line))
        if let lane {
            lane._withUnsafeGuaranteedRef { $0.append(work) }
        } else {
            loop.ready.append(work)
        }
        count += 1
    }
}

extension EventLoop {
    /// Hands several callbacks to the loop at once: `body` adds them with `batch.execute { }`,
    /// and they are published together when it returns, all accepted or all refused. No asyncio
    /// or SwiftNIO equivalent: it is `execute` for many callbacks.
    ///
    /// From another thread, each `execute` of the batch writes a slot of the calling thread's
    /// lane, and one atomic operation publishes them all (where `execute` makes one per
    /// callback): a thread, or another loop's callback, that sends many callbacks to this loop
    /// pays the publication, and the cache-line transfer of the lane's count, once. From the
    /// loop's own thread they are plain appends. The callbacks run in the order they were
    /// added, after what the calling thread handed over before.
    ///
    /// Nothing is lost: when this returns, every callback of the batch is accepted and will run
    /// exactly once (in an iteration, or during `close()`); when it throws, none was taken
    /// (their captures are released). The loop sees none of them before `body` returns, so a
    /// long body delays them all.
    ///
    /// Inside `body`, whatever the calling thread hands to this same loop (`execute`,
    /// `callSoonThreadsafe`, a nested `executeBatch`) joins the batch in its place: it is
    /// accepted or refused with the batch, when the outermost `executeBatch` returns or throws,
    /// not when that inner call returns. Work for other loops is not affected.
    ///
    /// - Returns: how many callbacks the batch handed over.
    /// - Throws: `EventLoopError.closed` when the loop is closed (checked before `body` runs
    ///   from the loop's thread, and at the publication from another thread).
    @discardableResult
    public func executeBatch(_ body: (inout EventLoopBatch) -> Void) throws(EventLoopError) -> Int {
        if isOnLoopThread {
            guard acceptingLocal else { throw .closed }
            var batch = EventLoopBatch(loop: self, lane: nil)
            body(&batch)
            return batch.count
        }
        let producer = ProducerLanes.current
        let lane = try producer.pointee.lane(into: self)
        lane._withUnsafeGuaranteedRef { $0.beginBatch() }
        var batch = EventLoopBatch(loop: self, lane: lane)
        body(&batch)
        guard lane._withUnsafeGuaranteedRef({ $0.publishBatch() }) else {
            producer.pointee.forget(id)
            throw .closed
        }
        // The publication's full barrier orders this check after it (see `InboxLane`).
        if inbox.claimWakeUp() { wakeUp() }
        return batch.count
    }
}
