import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

extension EventLoop {
    /// One iteration of the loop: asyncio's `BaseEventLoop._run_once`. Loop thread only.
    ///
    /// 1. Drop cancelled timers at the top of the heap; rebuild the heap when it holds more than
    ///    100 entries, more than half of them are cancelled, and it has seen at least half as
    ///    many inserts and pops as it holds since the last rebuild (`shouldRemoveCancelled`).
    /// 2. Sleep unless something is ready or a stop was requested: until the earliest timer, or
    ///    until woken. Sleeping is the inbox's `EMPTY -> SLEEPING` CAS followed by a look at
    ///    every lane; if the CAS fails or a lane holds work, the loop does not block.
    ///    The sleep is an `epoll_wait` that also returns the watched fds that are ready; their
    ///    callbacks are queued first (asyncio's `_process_events`).
    /// 3. Register new lanes, then take every lane into the ready queue (timers into the heap,
    ///    unless cancelled on the way), each lane oldest first, at most `drainLimitPerLane` items
    ///    per lane. If the loop did not sleep and watches fds, it polls them (a zero timeout) and
    ///    queues the callbacks of the ready ones.
    /// 4. Move the due timers to the ready queue, after what is already there, in
    ///    (deadline, sequence) order.
    /// 5. Run exactly the callbacks that were ready at the start of this step; what they schedule
    ///    runs in the next iteration.
    func runOnce() {
        // 1. Cancelled timers.
        while let top = timers.first, top.handle.isCancelledForRun {
            timers.popFirst()
            cancelledTimers.decrement()
        }
        if timers.shouldRemoveCancelled(cancelledCount: cancelledTimers.value) {
            cancelledTimers.decrement(by: timers.removeCancelled())
        }

        // 2. Sleep, or just look.
        var registrations: InboxBatch<InboxLane<LoopWork>>
        var polled = false
        if ready.isEmpty && !stopping {
            gatherBeforeDrain()
            let timeout = sleepTimeoutNanoseconds()
            // A first look without any barrier: a busy producer rarely leaves the loop to sleep.
            if timeout != 0 && !lanesHavePendingItems() && !spinForWork(timeout: timeout)
                && inbox.prepareToSleep() {
                // SLEEPING is published (full barrier); look at every lane again. A producer that
                // published before our CAS is seen here; one that publishes after it sees
                // SLEEPING and wakes us (see `InboxLane`: the Dekker pair). If a lane holds work
                // now, do not block; a producer may still end this sleep with one eventfd write,
                // which makes the next wait return at once.
                // The wait also returns the fds that became ready (their callbacks are queued).
                if !lanesHavePendingItems() {
                    sleepForReadiness(timeoutNanoseconds: timeout)
                    polled = true
                }
                counters.wakeups += 1
                registrations = inbox.finishSleeping()
            } else {
                registrations = inbox.takeAll()
            }
        } else {
            registrations = inbox.takeAll()
        }

        // 3. New lanes, then every lane, oldest first within each; then the ready fds, if the
        // loop did not just learn them in its sleep.
        while let lane = registrations.next() { lanes.append(.passRetained(lane)) }
        drainLanes()
        if !polled { pollReadiness() }

        // 4. Due timers.
        if !timers.isEmpty {
            let now = time()
            while let entry = timers.first, entry.when <= now {
                timers.popFirst()
                if entry.handle.isCancelledForRun {
                    cancelledTimers.decrement()
                } else {
                    ready.append(.handle(entry.handle))
                }
            }
        }

        // 5. Run what is ready now. The batch is swapped out of `ready`, so what the callbacks
        // schedule lands in the other buffer (next iteration). Swaps, not copies: a second
        // reference to a buffer would make the next append copy it.
        var batchToRun = ReadyQueue(capacity: 0)
        swap(&batchToRun, &ready)
        swap(&ready, &spareReady)
        let readyCount = batchToRun.count
        if UInt64(readyCount) > counters.largestBatch { counters.largestBatch = UInt64(readyCount) }
        var ran: UInt64 = 0
        while var work = batchToRun.popFirst() {
            if var handle = work.handle.take() {
                // Moved out: `recycle` reuses only a handle it holds alone.
                if run(handle) { ran += 1 }
                if handle.kind == .closureCallback { recycle(&handle) }
            } else if let body = work.body.take() {
                // Moved out, never copied: a copy would retain and release the context, a line
                // the producer's core may be writing, once more per callback.
                run(body, at: work.location)
                ran += 1
            } else if let job = work.job {
                runJob(job)
                ran += 1
            } else if let continuation = work.continuation {
                resumeInline(continuation)
                ran += 1
            }
        }
        spareReady = batchToRun
        counters.callbacksRun += ran
        counters.iterations += 1
        publishStatistics()
    }

    /// Takes what the lanes hold into the ready queue (timers into the heap), and drops the lanes
    /// of producers that have gone. Loop thread only.
    private func drainLanes() {
        receivedWork = false
        lastDrained = 0
        // Append to a local queue: a stored property would cost a dynamic exclusivity check
        // per item.
        var arrived = ReadyQueue(capacity: 0)
        swap(&arrived, &ready)
        defer { swap(&arrived, &ready) }
        var index = 0
        while index < lanes.count {
            let (taken, gone) = lanes[index]._withUnsafeGuaranteedRef { lane in
                let taken = lane.drain(limit: Self.drainLimitPerLane) { accept($0, into: &arrived) }
                // Abandoned (acquire) and then empty: the producer's last push is already taken.
                return (taken, taken == 0 && lane.isAbandoned && !lane.hasPendingItems)
            }
            counters.inboxPushes += UInt64(taken)
            if taken > 0 { receivedWork = true }
            lastDrained += taken
            if gone {
                lanes.swapAt(index, lanes.count - 1)
                lanes.removeLast().release()
            } else {
                index += 1
            }
        }
    }

    /// At most this many items are taken from one lane per iteration (step 3); the rest wait
    /// in the lane, published, for the next one (a lane with items left keeps the loop from
    /// sleeping). Producers that run far ahead of the loop would otherwise make it move their
    /// whole backlog into the ready queue at once: a queue that grows (copies, fresh pages:
    /// page faults were 13% of the loop thread's time with 4 producers) and no longer fits in
    /// cache. 1024 entries are 32 KB. With the limit, fan-in from 2 and 4 producers on 2 cores
    /// went from 10-12M to 20-28M callbacks/s.
    static var drainLimitPerLane: Int { 1024 }

    /// The longest gather pause (`gatherNanoseconds` is this, or 0 for a loop that never spins).
    static var gatherLimitNanoseconds: Int64 { 1_000 }
    /// A drain of fewer items than this, followed by more work at once, means a stream that the
    /// loop takes in small pieces.
    static var gatherBelowItems: Int { 64 }

    /// Lets a stream of work pile up for up to `gatherNanoseconds` before taking it, when the
    /// loop has nothing else ready, the last iteration took only a few items, and more are
    /// already waiting: a producer streaming to a loop that keeps up with it.
    ///
    /// Without it the loop takes each item almost as soon as it is published, so the lane's
    /// published word and slots move between the two cores on nearly every item (1 million
    /// iterations for 4 million callbacks from one producer, 6-7M callbacks/s). Waiting 1 µs
    /// (reads only, a `pause` between them) lets the producer write 10-60 items in lines it
    /// keeps: 13-17M callbacks/s in the same run. A loop that takes work one item at a time with
    /// gaps between (ping-pong, a ring of loops, a request now and then) finds nothing waiting
    /// after its iteration, so it never pauses, and its latency is unchanged.
    @inline(__always)
    private func gatherBeforeDrain() {
        guard gatherNanoseconds > 0, lastDrained > 0, lastDrained < Self.gatherBelowItems,
              lanesHavePendingItems() else { return }
        let deadline = ml_monotonic_ns() + gatherNanoseconds
        repeat {
            for _ in 0..<8 { _MultiLoopSystem.ml_cpu_relax() }
        } while ml_monotonic_ns() < deadline
    }

    /// Looks for work from other threads for up to `spinNanoseconds` (less if a timer is due
    /// sooner), if the last iteration received some; returns whether work arrived.
    private func spinForWork(timeout: Int64) -> Bool {
        guard receivedWork, spinNanoseconds > 0 else { return false }
        let limit = timeout > 0 ? min(timeout, spinNanoseconds) : spinNanoseconds
        let deadline = ml_monotonic_ns() + limit
        while true {
            for _ in 0..<32 {
                if lanesHavePendingItems() || inbox.hasPendingWork { return true }
                _MultiLoopSystem.ml_cpu_relax()
            }
            if ml_monotonic_ns() >= deadline { return false }
            // Every ~32 looks, offer the CPU to another runnable thread: with more loops (or
            // producers) than CPUs, the thread this loop waits for may be queued behind it.
            // Returns at once when nobody else is runnable. Without it a ring of 4 spinning loops
            // on 2 CPUs took 13.5 µs per hop and a chain of round trips 4x longer; with it, 2.5 µs.
            _MultiLoopSystem.ml_yield_cpu()
        }
    }

    /// Whether any lane holds work not yet taken (the sleeper's scan). Loop thread only.
    private func lanesHavePendingItems() -> Bool {
        lanes.contains { $0._withUnsafeGuaranteedRef { $0.hasPendingItems } }
    }

    /// Files work that arrived from another thread: timers into the heap, the rest into `queue`.
    @inline(__always)
    func accept(_ work: consuming LoopWork, into queue: inout ReadyQueue) {
        if work.isTimer {
            let timer = work.handle.take()!
            // Cancelled on its way here: it never enters the heap (and leaves the count now).
            if timer.isCancelledForRun {
                cancelledTimers.decrement()
            } else {
                timers.insert(timer)
            }
        } else {
            queue.append(work)
        }
    }

    /// Runs a bare closure (`execute`); a thrown error goes to the exception handler.
    @inline(__always)
    func run(_ body: @Sendable () throws -> Void, at location: CallbackLocation) {
        do {
            try body()
        } catch {
            callExceptionHandler(EventLoopErrorContext(
                message: "exception in callback", error: error, location: location))
        }
    }

    /// Hands a spent closure handle back for reuse, unless someone still holds it: to the
    /// producer whose lane brought it (`inboxNext` names that lane while the handle is in
    /// flight), or to the loop's own cache for a local `callSoon`.
    ///
    /// The lane is alive here: the loop drops a lane only in a drain that took nothing from it,
    /// and a handle runs in the iteration whose drain took it. (`close()` runs what is left
    /// without recycling, after it has released the lanes.)
    @inline(__always)
    private func recycle(_ handle: inout Handle) {
        // Unique: the caller of callSoon dropped the handle it was given, so nobody can observe
        // the reuse. (Its release is ordered before this check by the runtime's refcounting.)
        guard isKnownUniquelyReferenced(&handle) else { return }
        let spent = unsafeDowncast(handle, to: ClosureHandle.self)
        spent.body = nil  // already moved out by `invoke`, unless the handle was cancelled
        spent.resetState()
        if let lane = spent.inboxNext {
            Unmanaged<InboxLane<LoopWork>>.fromOpaque(lane)._withUnsafeGuaranteedRef { $0.giveBack(spent) }
        } else {
            localHandles.give(spent)
        }
    }

    /// Runs one handle unless it was cancelled; a thrown error goes to the exception handler.
    /// Returns whether it ran.
    @inline(__always)
    func run(_ handle: Handle) -> Bool {
        if handle.kind == .closureCallback || handle.kind == .callback {
            if handle.isCancelledForRun { return false }
        } else if !handle.claimToRun() {
            if handle.kind == .timer { cancelledTimers.decrement() }
            return false
        }
        do {
            try handle.invoke()
        } catch {
            callExceptionHandler(EventLoopErrorContext(
                message: "exception in callback", error: error, handle: handle))
        }
        return true
    }

    /// 0 to poll, -1 to sleep until woken, else nanoseconds until the earliest timer (rounded up,
    /// so the loop never wakes before a deadline; clamped to a day, after which it just re-checks).
    private func sleepTimeoutNanoseconds() -> Int64 {
        guard let top = timers.first else { return -1 }
        let seconds = top.when - time()
        if seconds <= 0 { return 0 }
        if seconds >= 86_400 { return 86_400 * 1_000_000_000 }
        return Int64((seconds * 1e9).rounded(.up))
    }

    /// Publishes the loop thread's counters (relaxed stores: each value is atomic on its own).
    func publishStatistics() {
        ml_store_relaxed(iterationsWord, ml_word_t(truncatingIfNeeded: counters.iterations))
        ml_store_relaxed(callbacksRunWord, ml_word_t(truncatingIfNeeded: counters.callbacksRun))
        ml_store_relaxed(wakeupsWord, ml_word_t(truncatingIfNeeded: counters.wakeups))
        ml_store_relaxed(largestBatchWord, ml_word_t(truncatingIfNeeded: counters.largestBatch))
        ml_store_relaxed(inboxPushesWord, ml_word_t(truncatingIfNeeded: counters.inboxPushes))
    }

    /// A snapshot of the loop's counters. Any thread; see `EventLoopStatistics` for what a
    /// snapshot does and does not promise.
    public var statistics: EventLoopStatistics {
        EventLoopStatistics(
            iterations: UInt64(truncatingIfNeeded: ml_load_relaxed(iterationsWord)),
            callbacksRun: UInt64(truncatingIfNeeded: ml_load_relaxed(callbacksRunWord)),
            eventfdWrites: UInt64(truncatingIfNeeded: ml_load_relaxed(eventfdWritesWord)),
            wakeups: UInt64(truncatingIfNeeded: ml_load_relaxed(wakeupsWord)),
            largestBatch: UInt64(truncatingIfNeeded: ml_load_relaxed(largestBatchWord)),
            inboxPushes: UInt64(truncatingIfNeeded: ml_load_relaxed(inboxPushesWord)),
            tasksCreated: UInt64(truncatingIfNeeded: ml_load_relaxed(tasksCreatedWord)),
            tasksFinished: UInt64(truncatingIfNeeded: ml_load_relaxed(tasksFinishedWord)))
    }

    /// Counts a task created on this loop. Any thread (a relaxed fetch-and-add: only the count
    /// matters; the line is the one producers write `eventfdWrites` on).
    @usableFromInline
    package func countTaskCreated() { _ = ml_fetch_add_relaxed(tasksCreatedWord, 1) }

    /// Counts a task of this loop that is done. Any thread.
    @usableFromInline
    package func countTaskFinished() { _ = ml_fetch_add_relaxed(tasksFinishedWord, 1) }
}
