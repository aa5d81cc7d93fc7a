import CMultiLoopSystem

/// An asyncio-style event loop that runs on one thread at a time, to which any thread may hand
/// work.
///
/// asyncio equivalent: `asyncio.AbstractEventLoop` (the low-level API: `run_forever`,
/// `run_until_complete`, `stop`, `close`, `call_soon`, `call_soon_threadsafe`, `call_later`,
/// `call_at`, `time`). Create one with `EventLoop()` or `newEventLoop()`; run it with
/// `runForever()` on the thread that should own it.
///
/// ## Threads
/// - The *loop thread* is whichever thread is inside `runForever` (or `close`). Only it touches
///   the ready queue and the timer heap; everything other threads hand over travels through the
///   lock-free inbox (see `MPSCInbox`).
/// - Every public method is safe to call from any thread. Scheduling from the loop thread is a
///   plain append (no atomic operation); from any other thread (or while the loop is not
///   running) it is one CAS on the inbox, plus one eventfd write if the loop was asleep.
/// - A loop never runs on two threads at once, and a thread never runs two loops at once.
///
/// ## Not guaranteed
/// - No fairness between producers: callbacks from one producer run in the order it submitted
///   them; callbacks from different producers interleave in the order their pushes reached the
///   inbox.
/// - Timers fire no earlier than their deadline, and as soon after it as the loop gets to them:
///   a callback that blocks delays everything.
public final class EventLoop: @unchecked Sendable {
    // MARK: Shared words (C atomics only)

    /// Line 0: the inbox head. Line 1: written by the loop thread only (owner thread and the
    /// statistics). Line 2: written by producers (eventfd writes). Line 3: the recycler's head.
    let words = CacheAlignedWords(lines: 4)
    let inbox: MPSCInbox<Handle>
    let recycler: HandleRecycler
    let waker: EventLoopWaker
    let cancelledTimers = CancelledTimerCounter()

    /// `pthread_self()` of the thread running (or closing) the loop, 0 when none. Written by that
    /// thread under `lifecycleLock`; read relaxed by anyone: a thread compares it with its own
    /// id, and it can only ever read its own id if it stored it itself (coherence), so a stale
    /// value can never make a foreign thread believe it is the loop thread.
    var ownerWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 0) }

    /// Keeps the loop-thread state below off the cache lines of the fields above, which every
    /// producer reads on every push: without it, each append to the ready queue invalidated the
    /// line producers were reading (false sharing; it was the loop's most expensive
    /// instruction). Swift lays out a class's stored properties in declaration order.
    private let separatorFromProducerFields = CacheLinePadding()

    // MARK: Loop-thread state (touched only by the owner thread; the hand-over between
    // successive owners is ordered by `lifecycleLock`)

    var ready = ReadyQueue()
    /// The other half of the ready queue's double buffer (see `runOnce`, step 5); always empty
    /// between iterations.
    var spareReady = ReadyQueue()
    var timers = TimerHeap()
    /// asyncio's `_stopping`: leave `runForever` after the current iteration.
    var stopping = false
    /// Whether the loop thread may schedule locally (false while `close()` runs the last batch).
    var acceptingLocal = true
    var counters = LoopCounters()
    /// How many more spent handles the loop may give to the recycler (see `HandleRecycler`).
    var recycleBudget = HandleRecycler.capacity

    private let separatorFromLoopFields = CacheLinePadding()

    // MARK: Lifecycle (guarded by `lifecycleLock`)

    enum Lifecycle { case idle, running, closing, closed }
    let lifecycleLock = PThreadMutex()
    var lifecycle = Lifecycle.idle

    // MARK: Errors (guarded by `errorLock`)

    let errorLock = PThreadMutex()
    var customExceptionHandler: EventLoopExceptionHandler?

    /// Creates a loop that is not running and is not set as any thread's current loop.
    /// asyncio: `asyncio.new_event_loop()`.
    ///
    /// - Throws: `EventLoopError.systemCallFailed` if the eventfd or epoll instance cannot be
    ///   created (for example when the process is out of file descriptors).
    public init() throws(EventLoopError) {
        waker = try EventLoopWaker()
        inbox = MPSCInbox(head: words.word(line: 0))
        recycler = HandleRecycler(head: words.word(line: 3))
    }

    deinit {
        // An unclosed loop can still hold accepted callbacks; nobody can run them any more.
        // Say so, like asyncio's "unclosed event loop" warning, rather than dropping them silently.
        recycler.drain()
        let leftover = inbox.close()
        let pending = leftover.count + ready.count
        if pending > 0 {
            defaultExceptionHandler(EventLoopErrorContext(
                message: "event loop deallocated without close(): \(pending) accepted callback(s) never ran"))
        }
    }

    /// The loop's clock: monotonic seconds. asyncio: `loop.time()`.
    @inline(__always)
    public func time() -> Double {
        Double(ml_monotonic_ns()) * 1e-9
    }

    /// Whether the calling thread is the one running (or closing) this loop.
    @inline(__always)
    public var isOnLoopThread: Bool {
        ml_load_relaxed(ownerWord) == ml_thread_self()
    }

    /// Whether the loop is running. asyncio: `loop.is_running()`.
    public var isRunning: Bool { lifecycleLock.withLock { lifecycle == .running } }

    /// Whether `close()` has been called (true from the moment closing starts).
    /// asyncio: `loop.is_closed()`.
    public var isClosed: Bool {
        lifecycleLock.withLock { lifecycle == .closing || lifecycle == .closed }
    }
}

/// 128 bytes of nothing, to keep stored properties written by one thread off the cache lines
/// that others read (two 64-byte lines: the adjacent-line prefetcher pairs them).
struct CacheLinePadding {
    private let words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

/// The loop thread's running counts, published to `EventLoopStatistics` once per iteration.
struct LoopCounters {
    var iterations: UInt64 = 0
    var callbacksRun: UInt64 = 0
    var wakeups: UInt64 = 0
    var largestBatch: UInt64 = 0
    var inboxPushes: UInt64 = 0
}

/// The number of timers cancelled while pending and not yet discarded by their loop.
///
/// A separate object, not a field of the loop, so that timer handles can hold it without a
/// reference cycle through the loop's heap. Incremented by `cancel()` on any thread (a relaxed
/// fetch-and-add: it is a heuristic input, no data hangs on it); decremented by the loop thread
/// when it discards a cancelled timer.
final class CancelledTimerCounter: @unchecked Sendable {
    private let storage = CacheAlignedWords(lines: 1)

    func increment() { _ = ml_fetch_add_relaxed(storage.word(line: 0), 1) }
    func decrement(by amount: Int = 1) {
        _ = ml_fetch_add_relaxed(storage.word(line: 0), -amount)
    }
    var value: Int { ml_load_relaxed(storage.word(line: 0)) }
}
