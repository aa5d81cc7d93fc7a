import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

extension EventLoop {
    /// Schedules `callback` to run in the next iteration of the loop, after the callbacks already
    /// scheduled. asyncio: `loop.call_soon(callback)`.
    ///
    /// Safe from any thread (unlike asyncio's, which must be called on the loop thread): from the
    /// loop thread it is a plain append; from another thread, or while the loop is not running,
    /// it is exactly `callSoonThreadsafe`. An error thrown by the callback goes to the loop's
    /// exception handler; the loop keeps running.
    ///
    /// - Throws: `EventLoopError.closed` when the loop is closed. When this returns, the callback
    ///   is accepted and will run exactly once, unless cancelled: by an iteration, or by `close()`.
    @discardableResult
    public func callSoon(file: StaticString = #fileID, line: UInt = #line,
                         _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> Handle {
        if isOnLoopThread {
            guard acceptingLocal else { throw .closed }
            let handle = ClosureHandle.reusing(localHandles.take(), file: file, line: line, body: callback)
            ready.append(.handle(handle))
            return handle
        }
        // Through the calling thread's lane, with a handle that lane brought back (or a new
        // one): the loop gives it back to this lane once it has run (`inboxNext` says which).
        let producer = ProducerLanes.current
        let lane = try producer.pointee.lane(into: self)
        let handle = ClosureHandle.reusing(lane._withUnsafeGuaranteedRef { $0.takeReturnedHandle() },
                                           file: file, line: line, body: callback)
        handle.inboxNext = lane.toOpaque()
        try submit(.handle(handle), through: lane, of: producer)
        return handle
    }

    /// Schedules `callback(argument)`, as asyncio's `loop.call_soon(callback, *args)`.
    ///
    /// With a callback that captures nothing, this allocates exactly one object (the handle).
    @discardableResult
    public func callSoon<Argument: Sendable>(file: StaticString = #fileID, line: UInt = #line,
                                             _ callback: @escaping @Sendable (Argument) throws -> Void,
                                             _ argument: Argument) throws(EventLoopError) -> Handle {
        let handle = ArgumentHandle(kind: .callback, file: file, line: line, body: callback, argument: argument)
        try schedule(handle)
        return handle
    }

    /// Schedules `callback` from any thread, waking the loop if it sleeps.
    /// asyncio: `loop.call_soon_threadsafe(callback)`.
    ///
    /// One CAS on the calling thread's lock-free lane into the loop when called from another
    /// thread; no system call unless the loop was asleep, and then exactly one eventfd write for
    /// however many producers race to wake it. From the loop thread itself it is a plain append,
    /// as `callSoon`. When you do not need the handle, `execute(_:)` is cheaper.
    ///
    /// An alias of `callSoon(_:)`, which is thread-safe too (docs/api-guidelines.md, "Aliases"):
    /// asyncio has both names, and code ported from it keeps its calls and their meaning.
    ///
    /// - Throws: `EventLoopError.closed` when the loop is closed; the callback was not taken.
    @discardableResult
    public func callSoonThreadsafe(file: StaticString = #fileID, line: UInt = #line,
                                   _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> Handle {
        try callSoon(file: file, line: line, callback)
    }

    /// Schedules `callback(argument)` from any thread; see `callSoonThreadsafe(_:)`.
    @discardableResult
    public func callSoonThreadsafe<Argument: Sendable>(file: StaticString = #fileID, line: UInt = #line,
                                                       _ callback: @escaping @Sendable (Argument) throws -> Void,
                                                       _ argument: Argument) throws(EventLoopError) -> Handle {
        try callSoon(file: file, line: line, callback, argument)
    }

    /// Runs `callback` on the loop as soon as possible, from any thread, and returns nothing:
    /// the cheapest way to hand work to a loop. SwiftNIO: `EventLoop.execute`; asyncio has no
    /// equivalent (`call_soon_threadsafe`, which returns a handle, is the closest).
    ///
    /// There is no handle, so the callback cannot be cancelled, and nothing is allocated besides
    /// the closure's context (none if it captures nothing). From another thread it is one CAS on
    /// the calling thread's lane into this loop; callbacks from one thread run in the order it
    /// submitted them, interleaved in that order with its `callSoon`, `callSoonThreadsafe` and
    /// timers. From the loop thread it is a plain append, as `callSoon`. An error thrown by the
    /// callback goes to the exception handler, with the place it was submitted from. What the
    /// closure captures is released as soon as it has run.
    ///
    /// - Throws: `EventLoopError.closed` when the loop is closed; the callback was not taken.
    ///   Otherwise it will run exactly once: in an iteration, or during `close()`.
    public func execute(file: StaticString = #fileID, line: UInt = #line,
                        _ callback: consuming @escaping @Sendable () throws -> Void) throws(EventLoopError) {
        // `consuming`: the caller's reference to the closure's context moves into the lane, so
        // no extra retain (and later release) of a context other threads may share.
        let work = LoopWork.closure(callback, CallbackLocation(file: file, line: line))
        if isOnLoopThread {
            guard acceptingLocal else { throw .closed }
            ready.append(work)
            return
        }
        try submit(work)
    }

    /// Schedules `callback` to run `delay` seconds from now (on `time()`). Any thread.
    /// asyncio: `loop.call_later(delay, callback)`.
    ///
    /// The deadline is fixed when this is called, on the calling thread. A zero or negative delay
    /// runs in the next iteration, after the callbacks already ready. Timers with equal deadlines
    /// fire in the order they reached the loop (asyncio leaves that order unspecified). From
    /// another thread the timer travels through that thread's lane; only the loop thread touches the heap.
    ///
    /// - Throws: `EventLoopError.invalidDelay` for NaN or infinity; `.closed` on a closed loop.
    @discardableResult
    public func callLater(_ delay: Double, file: StaticString = #fileID, line: UInt = #line,
                          _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> TimerHandle {
        guard delay.isFinite else { throw .invalidDelay(delay) }
        return try callAt(time() + delay, file: file, line: line, callback)
    }

    /// Schedules `callback` to run at `when`, a time on the loop's clock (`time()`). Any thread.
    /// asyncio: `loop.call_at(when, callback)`. A deadline in the past runs in the next iteration.
    ///
    /// - Throws: `EventLoopError.invalidDelay` for NaN or infinity; `.closed` on a closed loop.
    @discardableResult
    public func callAt(_ when: Double, file: StaticString = #fileID, line: UInt = #line,
                       _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> TimerHandle {
        try callAt(when, file: file, line: line, onClose: nil, callback)
    }

    /// `callAt` with what to run if the loop closes before the deadline (the layers above use it
    /// to complete what waits for the timer: a sleeping task, a scheduled future).
    package func callAt(_ when: Double, file: StaticString, line: UInt, onClose: (@Sendable () -> Void)?,
                _ callback: @escaping @Sendable () throws -> Void) throws(EventLoopError) -> TimerHandle {
        guard when.isFinite else { throw .invalidDelay(when) }
        let handle = TimerClosureHandle(when: when, cancelledTimers: cancelledTimers,
                                        file: file, line: line, onClose: onClose, body: callback)
        try schedule(handle)
        return TimerHandle(handle: handle)
    }

    /// Schedules `callback(argument)` after `delay` seconds; see `callLater(_:_:)`.
    @discardableResult
    public func callLater<Argument: Sendable>(_ delay: Double, file: StaticString = #fileID, line: UInt = #line,
                                              _ callback: @escaping @Sendable (Argument) throws -> Void,
                                              _ argument: Argument) throws(EventLoopError) -> TimerHandle {
        guard delay.isFinite else { throw .invalidDelay(delay) }
        let handle = TimerArgumentHandle(when: time() + delay, cancelledTimers: cancelledTimers,
                                         file: file, line: line, body: callback, argument: argument)
        try schedule(handle)
        return TimerHandle(handle: handle)
    }

    /// Hands a handle to the loop: locally on the loop thread, else through the calling
    /// thread's lane.
    @inline(__always)
    package func schedule(_ handle: Handle) throws(EventLoopError) {
        if isOnLoopThread {
            guard acceptingLocal else { throw .closed }
            if handle.kind == .timer { timers.insert(handle) } else { ready.append(.handle(handle)) }
            return
        }
        try submit(.handle(handle))
    }

    /// Hands work to the loop through the calling thread's lane (never from the loop thread:
    /// that one appends locally), waking the loop if it sleeps.
    @inline(__always)
    func submit(_ work: consuming LoopWork) throws(EventLoopError) {
        let producer = ProducerLanes.current
        try submit(work, through: try producer.pointee.lane(into: self), of: producer)
    }

    /// `submit` through a lane the caller already looked up.
    @inline(__always)
    func submit(_ work: consuming LoopWork, through lane: Unmanaged<InboxLane<LoopWork>>,
                of producer: UnsafeMutablePointer<ProducerLanes>) throws(EventLoopError) {
        // The table keeps the lane alive: no reference count is touched (see `ProducerLanes`).
        var pending: LoopWork? = consume work
        guard lane._withUnsafeGuaranteedRef({ $0.push(pending.take()!) }) else {
            producer.pointee.forget(id)
            throw .closed
        }
        // The push's full barrier orders this check after the publication (see `InboxLane`).
        if inbox.claimWakeUp() { wakeUp() }
    }

    /// Registers a producer's new lane: pushed through the inbox, which wakes a sleeping loop.
    ///
    /// - Throws: `EventLoopError.closed` when the loop is closed; the lane was not taken.
    func register(_ lane: InboxLane<LoopWork>) throws(EventLoopError) {
        switch inbox.push(lane) {
        case .accepted:
            return
        case .acceptedConsumerSleeping:
            wakeUp()
        case .rejectedClosed:
            throw .closed
        }
    }

    /// Writes the eventfd. Only the one thread that took the inbox out of `SLEEPING` calls it.
    func wakeUp() {
        _ = ml_fetch_add_relaxed(eventfdWritesWord, 1)
        waker.wake()
    }
}
