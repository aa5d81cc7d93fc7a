import _MultiLoopInbox
import _MultiLoopSystem
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
///   the ready queue and the timer heap; everything other threads hand over travels through
///   their own lock-free lane into the loop (see `InboxLane`; the lanes register through the
///   loop's `MPSCInbox`, whose word also holds the loop's sleep state).
/// - Every public method is safe to call from any thread. Scheduling from the loop thread is a
///   plain append (no atomic operation); from any other thread (or while the loop is not
///   running) it is one CAS on the thread's lane, plus one eventfd write if the loop was asleep.
/// - A loop never runs on two threads at once, and a thread never runs two loops at once.
///
/// ## Order
/// - Callbacks handed over by one thread run in the order that thread handed them over
///   (`execute`, `callSoon`, `callSoonThreadsafe`, done callbacks it schedules, its `stop()`;
///   its timers enter the heap in that order too).
/// - Work that another thread handed over before a callback of this loop started (the callback
///   can see that it was) is taken by the next iteration, and runs in it, as long as that
///   thread's lane holds at most 1024 items; a larger backlog is taken 1024 items per iteration,
///   in order, and the loop does not sleep before it has all of it. So a callback that schedules
///   a callback (`callSoon`) that schedules a third one runs that third one after everything
///   handed over before the first, unless a thread had more than 1024 items waiting.
///
/// ## Not guaranteed
/// - No order between threads: each thread has its own lane into the loop, and the loop takes
///   the lanes in turn, so callbacks that two threads hand over run grouped by thread, even if
///   one thread submitted after learning that the other had. asyncio and SwiftNIO, whose loops
///   take every submission through one locked queue, keep that order; the lanes are what make
///   MultiLoop's submission several times cheaper. To order work across threads, let the first
///   piece of work start the second (complete a future the second waits for), or submit both
///   from one thread.
/// - No fairness between producers.
/// - Timers fire no earlier than their deadline, and as soon after it as the loop gets to them:
///   a callback that blocks delays everything.
public final class EventLoop: @unchecked Sendable {
    /// Keeps every field below off the cache line of the object's header, whose reference
    /// count is written by every thread that retains the loop (`loops[i].execute { }` reads
    /// the loop out of an array, which retains and releases it per call). See `runJob`.
    private let separatorFromHeader = CacheLinePadding()

    // MARK: Shared words (C atomics only)

    /// Line 0: the wake word (the inbox head). Line 1: written by the loop thread only (owner
    /// thread and the statistics). Line 2: written by any thread with relaxed fetch-and-adds
    /// (eventfd writes, tasks created and finished). Line 3: the attachment's word (see
    /// `EventLoopAttachment`), written once, read by every thread that creates a task.
    let words = CacheAlignedWords(lines: 4)
    /// The wake word, and the channel through which producers register their lanes: every piece
    /// of work another thread hands over travels through that thread's `InboxLane`.
    let inbox: MPSCInbox<InboxLane<LoopWork>>
    let waker: EventLoopWaker
    /// The fds watched for readiness (`addReader`, `addWriter`), in the waker's epoll instance.
    let ioWatchers: IOWatchers
    let cancelledTimers = CancelledTimerCounter()
    /// See `init(spinBeforeSleep:)`.
    let spinNanoseconds: Int64
    /// The gather pause (see `gatherBeforeDrain`): 1 µs, none when the loop never spins.
    let gatherNanoseconds: Int64
    /// Unique in the process, never reused (producers key their lanes by it); starts at 1.
    package let id = UInt64(truncatingIfNeeded: ml_fetch_add_relaxed(loopIDCounter, 1)) + 1

    /// `pthread_self()` of the thread running (or closing) the loop, 0 when none. Written by that
    /// thread under `lifecycleLock`; read relaxed by anyone: a thread compares it with its own
    /// id, and it can only ever read its own id if it stored it itself (coherence), so a stale
    /// value can never make a foreign thread believe it is the loop thread.
    var ownerWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 0) }

    // The statistics words, named (`publishStatistics`, `statistics`). Line 1, written by the
    // loop thread only (relaxed stores, each value atomic on its own):
    var iterationsWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 1) }
    var callbacksRunWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 2) }
    var wakeupsWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 3) }
    var largestBatchWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 4) }
    var inboxPushesWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 1, index: 5) }
    // Line 2, counted by any thread with relaxed fetch-and-adds:
    var eventfdWritesWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 2, index: 0) }
    var tasksCreatedWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 2, index: 1) }
    var tasksFinishedWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 2, index: 2) }

    /// Keeps the loop-thread state below off the cache lines of the fields above, which every
    /// producer reads on every push: without it, each append to the ready queue invalidated the
    /// line producers were reading (false sharing; it was the loop's most expensive
    /// instruction). Swift lays out a class's stored properties in declaration order.
    private let separatorFromProducerFields = CacheLinePadding()

    // MARK: Loop-thread state (touched only by the owner thread; the hand-over between
    // successive owners is ordered by `lifecycleLock`)
    //
    // `@exclusivity(unchecked)`: Swift's dynamic exclusivity check (a thread-local access set,
    // updated on every access to a class's stored property) was 11% of the loop thread's time
    // with tasks. It can only catch overlapping accesses on one thread, which this code does not
    // make; what keeps these fields safe is the ownership rule above, which it cannot check.

    @exclusivity(unchecked) var ready = ReadyQueue()
    /// The other half of the ready queue's double buffer (see `runOnce`, step 5); always empty
    /// between iterations.
    @exclusivity(unchecked) var spareReady = ReadyQueue()
    @exclusivity(unchecked) var timers = TimerHeap()
    /// The producers' lanes, in registration order (see `InboxLane`), each held +1 by hand: the
    /// loop reads them without touching their reference counts, which their producers' lines
    /// would otherwise share.
    @exclusivity(unchecked) var lanes: [Unmanaged<InboxLane<LoopWork>>] = []
    /// Whether the last iteration took work from a lane (then the loop spins before sleeping).
    @exclusivity(unchecked) var receivedWork = false
    /// How many items the last iteration took from the lanes (see `gatherBeforeDrain`).
    @exclusivity(unchecked) var lastDrained = 0
    /// asyncio's `_stopping`: leave `runForever` after the current iteration.
    @exclusivity(unchecked) var stopping = false
    /// Whether the loop thread may schedule locally (false while `close()` runs the last batch).
    @exclusivity(unchecked) package var acceptingLocal = true
    /// Set while the loop resumes a task's continuation (`resumeInline`): the job that the
    /// resumption enqueues is kept here and run at once instead of waiting an iteration.
    @exclusivity(unchecked) var resumingInline = false
    @exclusivity(unchecked) var inlineJob: UnownedJob?
    @exclusivity(unchecked) var counters = LoopCounters()
    /// Spent handles of local `callSoon` calls, for the next ones.
    @exclusivity(unchecked) var localHandles = LocalHandleCache()

    private let separatorFromLoopFields = CacheLinePadding()

    // MARK: Lifecycle (guarded by `lifecycleLock`)

    package enum Lifecycle { case idle, running, closing, closed }
    package let lifecycleLock = PThreadMutex()
    package var lifecycle = Lifecycle.idle

    /// The layers above's per-loop state (see `EventLoopAttachment`): set once, under
    /// `lifecycleLock`, then also published in `attachmentWord` for the lock-free reads.
    var attached: (any EventLoopAttachment)?

    // MARK: Errors (guarded by `errorLock`)

    package let errorLock = PThreadMutex()
    var customExceptionHandler: EventLoopExceptionHandler?

    /// Creates a loop that is not running and is not set as any thread's current loop.
    /// asyncio: `asyncio.new_event_loop()`.
    ///
    /// - Parameter spinBeforeSleep: how long the loop keeps looking for work from other threads,
    ///   after an iteration that received some, before it goes to sleep (0 never spins). A
    ///   thread that streams work to the loop then rarely finds it asleep, and so rarely pays for
    ///   waking it (an eventfd write, and tens of microseconds before the loop runs again on a
    ///   virtual machine). The spin reads the lanes' counters only (no writes, a `pause` between
    ///   reads) and ends at the first work, the earliest timer, or the limit. asyncio and
    ///   SwiftNIO never spin; tokio's workers do, briefly. A loop that spins also pauses up to
    ///   1 µs before taking a stream of small batches, so that they arrive larger (see
    ///   docs/design.md, "The iteration"); with 0 it never waits for work it could take.
    /// - Throws: `EventLoopError.systemCallFailed` if the eventfd or epoll instance cannot be
    ///   created (for example when the process is out of file descriptors).
    public init(spinBeforeSleep: Duration = .microseconds(20)) throws(EventLoopError) {
        let (seconds, attoseconds) = spinBeforeSleep.components
        spinNanoseconds = max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        gatherNanoseconds = min(spinNanoseconds, Self.gatherLimitNanoseconds)
        waker = try EventLoopWaker()
        ioWatchers = IOWatchers(epollFD: waker.epollFD)
        inbox = MPSCInbox(head: words.word(line: 0))
    }

    deinit {
        // An unclosed loop can still hold accepted callbacks; nobody can run them any more.
        // Say so, like asyncio's "unclosed event loop" warning, rather than dropping them silently.
        localHandles.releaseAll()
        // Watches of an unclosed loop: a task waiting for an fd is resumed with `.closed`.
        _ = ioWatchers.closeAll()
        var registrations = inbox.close()
        while let lane = registrations.next() { lanes.append(.passRetained(lane)) }
        var pending = ready.count
        for lane in lanes {
            pending += lane._withUnsafeGuaranteedRef { $0.close { _ in } }
            lane.release()
        }
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

/// The source of `EventLoop.id`. A relaxed fetch-and-add: only uniqueness matters.
private nonisolated(unsafe) let loopIDCounter: UnsafeMutablePointer<ml_word_t> = {
    let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 1)
    word.initialize(to: 0)
    return word
}()

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
