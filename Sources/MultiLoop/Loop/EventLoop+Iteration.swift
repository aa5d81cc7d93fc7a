import CMultiLoopSystem

extension EventLoop {
    /// One iteration of the loop: asyncio's `BaseEventLoop._run_once`. Loop thread only.
    ///
    /// 1. Drop cancelled timers at the top of the heap; rebuild the heap when it holds more than
    ///    100 entries and more than half of them are cancelled.
    /// 2. Sleep unless something is ready or a stop was requested: until the earliest timer, or
    ///    until woken. Sleeping is the inbox's `EMPTY -> SLEEPING` CAS; if it fails, work arrived.
    /// 3. Take the inbox into the ready queue (timers into the heap), oldest first.
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
        if timers.count > 100, cancelledTimers.value * 2 > timers.count {
            cancelledTimers.decrement(by: timers.removeCancelled())
        }

        // 2. Sleep, or just look.
        var batch: InboxBatch<Handle>
        if ready.isEmpty && !stopping {
            let timeout = sleepTimeoutNanoseconds()
            if timeout != 0 && inbox.prepareToSleep() {
                waker.sleep(timeoutNanoseconds: timeout)
                counters.wakeups += 1
                batch = inbox.finishSleeping()
            } else {
                batch = inbox.takeAll()
            }
        } else {
            batch = inbox.takeAll()
        }

        // 3. The inbox, oldest first.
        counters.inboxPushes += UInt64(batch.count)
        while let handle = batch.next() {
            if handle.kind == .timer { timers.insert(handle) } else { ready.append(handle) }
        }

        // 4. Due timers.
        if !timers.isEmpty {
            let now = time()
            while let entry = timers.first, entry.when <= now {
                timers.popFirst()
                if entry.handle.isCancelledForRun {
                    cancelledTimers.decrement()
                } else {
                    ready.append(entry.handle)
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
        while var handle = batchToRun.popFirst() {
            if run(handle) { ran += 1 }
            if handle.kind == .closureCallback { recycle(&handle) }
        }
        spareReady = batchToRun
        counters.callbacksRun += ran
        counters.iterations += 1
        publishStatistics()
    }

    /// Hands a spent closure handle back to the producers, unless someone still holds it.
    @inline(__always)
    private func recycle(_ handle: inout Handle) {
        // Unique: the caller of callSoon dropped the handle it was given, so nobody can observe
        // the reuse. (Its release is ordered before this check by the runtime's refcounting.)
        guard isKnownUniquelyReferenced(&handle) else { return }
        let spent = unsafeDowncast(handle, to: ClosureHandle.self)
        spent.body = nil  // already moved out by `invoke`, unless the handle was cancelled
        spent.resetState()
        _ = recycler.give(spent, budget: &recycleBudget)
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
        ml_store_relaxed(words.word(line: 1, index: 1), ml_word_t(truncatingIfNeeded: counters.iterations))
        ml_store_relaxed(words.word(line: 1, index: 2), ml_word_t(truncatingIfNeeded: counters.callbacksRun))
        ml_store_relaxed(words.word(line: 1, index: 3), ml_word_t(truncatingIfNeeded: counters.wakeups))
        ml_store_relaxed(words.word(line: 1, index: 4), ml_word_t(truncatingIfNeeded: counters.largestBatch))
        ml_store_relaxed(words.word(line: 1, index: 5), ml_word_t(truncatingIfNeeded: counters.inboxPushes))
    }

    /// A snapshot of the loop's counters. Any thread; see `EventLoopStatistics` for what a
    /// snapshot does and does not promise.
    public var statistics: EventLoopStatistics {
        EventLoopStatistics(
            iterations: UInt64(truncatingIfNeeded: ml_load_relaxed(words.word(line: 1, index: 1))),
            callbacksRun: UInt64(truncatingIfNeeded: ml_load_relaxed(words.word(line: 1, index: 2))),
            eventfdWrites: UInt64(truncatingIfNeeded: ml_load_relaxed(words.word(line: 2, index: 0))),
            wakeups: UInt64(truncatingIfNeeded: ml_load_relaxed(words.word(line: 1, index: 3))),
            largestBatch: UInt64(truncatingIfNeeded: ml_load_relaxed(words.word(line: 1, index: 4))),
            inboxPushes: UInt64(truncatingIfNeeded: ml_load_relaxed(words.word(line: 1, index: 5))))
    }
}
