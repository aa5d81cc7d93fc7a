import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// A buffer of bytes received from a stream, read by a task with `read`, `readLine`,
/// `readUntil` and `readExactly`, or line by line with `for try await line in reader`.
/// asyncio: `asyncio.StreamReader`, with the same semantics (CPython's `Lib/asyncio/streams.py`;
/// the differences are in docs/asyncio-mapping.md).
///
/// The transport (the socket layer) feeds it with `feedData` (or `feed(capacity:_:)`, which
/// receives straight into its buffer), `feedEOF` and `setException`; one task at a time reads
/// from it. A read that needs more data suspends until the next feed; a second read that would
/// wait meanwhile throws `StreamError.concurrentRead`. Once `setException` was called, every
/// read throws that error as it is.
///
/// ## Threads
///
/// A reader belongs to one loop, `loop`, and its state is touched only on that loop's thread
/// (the thread running the loop, or closing it): the invariant is stated once, at the state,
/// below. What follows keeps it, whatever thread calls:
/// - The reads are `async` and hop to the loop when they have to: from a task of the loop they
///   run at once; from a task of another loop, a plain Swift task or an actor, they run as that
///   task on `loop` (with the loop as the task's executor preference for the call) and the
///   caller continues on its own executor afterwards. On a closed loop they throw
///   `StreamError.loopClosed`. On a loop that is not running they wait until it runs.
/// - `feedData`, `feedEOF` and `setException` called on another thread (or while the loop is
///   not running) are forwarded to the loop (`execute`): they take effect in a later iteration,
///   in the order the calling thread made them (`feedData` then copies its bytes). An error
///   the loop then finds (`feedAfterEOF`) goes to its exception handler. On a closed loop they
///   throw `StreamError.loopClosed`.
/// - `isAtEOF`, `exception`, `bufferedCount` and `description` are exact on the loop's thread.
///   From another thread they are a snapshot of what the loop thread last published, which
///   does not yet include what that thread forwarded.
///
/// Not guaranteed: any order between the feeds of different threads (each thread's own are in
/// order), nor when a cancelled read ends (Swift's cancellation is cooperative: see the reads,
/// in StreamReader+Reading.swift).
public final class StreamReader: @unchecked Sendable, CustomStringConvertible {
    // MUST stay the first stored property (see `firstStoredWord`), and Swift code never touches
    // it directly: word 0 is `sharedLock`'s, word 1 `statusWord`, the snapshot other threads read.
    private var _words: (ml_word_t, ml_word_t) = (0, 0)

    /// The largest line or chunk before a separator that `readLine` and `readUntil` return; the
    /// reader asks the transport to pause when it holds more than twice as much. asyncio: the
    /// `limit` argument.
    public let limit: Int

    /// The loop the reader belongs to: its state is touched only on this loop's thread.
    public let loop: EventLoop
    /// `loop` as a task executor, compared with the reading task's preference.
    let loopExecutor: UnownedTaskExecutor

    /// asyncio's default limit, 64 KiB (`asyncio.streams._DEFAULT_LIMIT`, private there): public
    /// here so that the socket layer's defaults and programs can name it.
    public static let defaultLimit = 65_536

    // MARK: State: the loop's thread only
    //
    // Everything in this section is read and written only on `loop`'s thread, so none of it is
    // synchronized. The reads get there by hopping (`onLoop`), the feeds by forwarding, and the
    // cancellation of a waiting read never touches it: it only takes the continuation, under
    // `sharedLock`, and the read then cleans up after itself on the loop.

    /// The bytes received and not read yet.
    var buffer: StreamBuffer
    /// `feedEOF()` was called.
    var eof = false
    /// `setException` was called (the error is in `storedException`).
    var failed = false
    /// The transport was asked to pause and not resumed since.
    var paused = false
    /// A read is suspended in `waitForData` (asyncio: `_waiter is not None`). Set until that
    /// read resumes, whoever ended its wait.
    var waiting = false
    /// Tells apart the successive waits, so that a late cancellation of one wait cannot end
    /// the next.
    var waitGeneration: UInt = 0
    /// Inside `feed(capacity:_:)`'s closure, which writes into the buffer's spare room.
    var receiving = false
    /// Whether `transport` was set (its weak reference is not loaded to publish the snapshot).
    var hasTransport = false

    /// The transport to pause and resume (flow control); nil: none. Weak, as the transport
    /// owns the reader's protocol side. Set on the loop's thread. asyncio: `set_transport`.
    package weak var transport: (any StreamReaderTransport)? {
        didSet {
            hasTransport = transport != nil
            publishStatus()
        }
    }

    // MARK: Shared: under `sharedLock`, any thread

    /// The continuation of the suspended read, with its wait's generation, while it may still
    /// be resumed; taken (set to nil) by whoever ends the wait: a feed on the loop, or the read's
    /// cancellation handler on any thread. Exactly one of them gets it.
    var armedContinuation: UnsafeContinuation<Void, any Error>?
    var armedGeneration: UInt = 0
    /// The error given to `setException` (written on the loop's thread, read from any).
    var storedException: (any Error)?

    /// A lock for the few stores above, in the object's first word: no allocation, no
    /// system call (see `SpinLock`).
    var sharedLock: SpinLock { SpinLock(word: firstStoredWord(of: self)) }

    /// The snapshot other threads read: `bufferedCount << 4 | paused << 2 | waiting << 1 | eof`
    /// (and bit 3 for a transport). Stored relaxed by the loop thread after every change, read
    /// relaxed by anyone: a snapshot of one word, which no other data depends on.
    var statusWord: UnsafeMutablePointer<ml_word_t> { firstStoredWord(of: self) + 1 }

    /// A reader with `limit` (see `limit`) belonging to `loop`; nil: the loop running on this
    /// thread, else the loop set with `setEventLoop` (never a new one). asyncio:
    /// `asyncio.StreamReader(limit=2**16, loop=None)`, whose `loop=None` is
    /// `asyncio.get_event_loop()`.
    ///
    /// - Throws: `StreamError.invalidLimit` for a limit ≤ 0 (asyncio: `ValueError`);
    ///   `StreamError.noEventLoop` when `loop` is nil and this thread has no loop (asyncio:
    ///   `RuntimeError`).
    public init(limit: Int = StreamReader.defaultLimit, loop: EventLoop? = nil) throws(StreamError) {
        guard limit > 0 else { throw .invalidLimit(limit) }
        guard let loop = loop ?? EventLoop.runningOnThisThread.value ?? Registry.setLoop.value else {
            throw .noEventLoop
        }
        self.limit = limit
        self.loop = loop
        loopExecutor = loop.asUnownedTaskExecutor()
        let fourLimits = limit > Int.max / 4 ? Int.max : limit * 4
        buffer = StreamBuffer(retainedCapacity: Swift.max(fourLimits, Self.defaultLimit))
    }

    // MARK: Feeding

    /// Appends `data` to the buffer and wakes the waiting read; asks the transport to pause if
    /// the reader now holds more than twice its limit. Empty data changes nothing.
    /// asyncio: `reader.feed_data(data)`.
    ///
    /// Any thread: on another one it is forwarded to the loop (see "Threads"), with a copy of
    /// the bytes.
    ///
    /// - Throws: `StreamError.feedAfterEOF` after `feedEOF()` (asyncio: `AssertionError`), on
    ///   the loop's thread; from another thread that error goes to the loop's exception handler.
    ///   `StreamError.loopClosed` from another thread when the loop is closed.
    public func feedData<Bytes: Collection<UInt8>>(_ data: Bytes) throws(StreamError) {
        if loop.isOnLoopThread { return try append(data) }
        let copy = [UInt8](data)
        try forward { reader throws(StreamError) in try reader.append(copy) }
    }

    /// `feedData(_:)` for bytes in memory the caller owns (copied before this returns).
    public func feedData(_ data: UnsafeRawBufferPointer) throws(StreamError) {
        if loop.isOnLoopThread { return try append(data) }
        let copy = [UInt8](data)
        try forward { reader throws(StreamError) in try reader.append(copy) }
    }

    /// Receives up to `capacity` bytes straight into the buffer's spare room: `receive` writes
    /// them at the start of the region it is given and returns how many it wrote (0 to
    /// `capacity`); the reader then wakes the waiting read and applies flow control exactly as
    /// `feedData` does. Returns the number of bytes appended. For the socket layer, whose
    /// `recv` thus copies each message once, into storage reused message after message.
    ///
    /// On another thread `receive` writes into a temporary array, which is forwarded as
    /// `feedData` forwards. `receive` must not call into this reader. With `capacity` ≤ 0 it
    /// is not called.
    ///
    /// - Throws: what `receive` throws (nothing is appended then); `StreamError.feedAfterEOF`
    ///   after `feedEOF()` (before calling `receive`); `StreamError.loopClosed` from another
    ///   thread when the loop is closed (the bytes received are lost).
    package func feed(capacity: Int, _ receive: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        guard capacity > 0 else { return 0 }
        guard loop.isOnLoopThread else {
            var bytes = [UInt8](repeating: 0, count: capacity)
            let received = try bytes.withUnsafeMutableBytes { try receive($0) }
            precondition(received >= 0 && received <= capacity, "receive returned \(received) for \(capacity) bytes of room")
            guard received > 0 else { return 0 }
            bytes.removeLast(capacity - received)
            let receivedBytes = bytes
            try forward { reader throws(StreamError) in try reader.append(receivedBytes) }
            return received
        }
        guard !eof else { throw StreamError.feedAfterEOF }
        precondition(!receiving, "feed called from inside feed(capacity:_:)'s receive")
        let spare = buffer.reserveSpare(capacity)
        receiving = true
        defer { receiving = false }
        let received = try receive(UnsafeMutableRawBufferPointer(start: spare, count: capacity))
        precondition(received >= 0 && received <= capacity, "receive returned \(received) for \(capacity) bytes of room")
        guard received > 0 else { return 0 }
        buffer.commit(received)
        didFeed()
        return received
    }

    /// Marks the end of the stream and wakes the waiting read: reads then return what is left,
    /// and then nothing (`read`), a partial line (`readLine`), or throw
    /// `StreamError.incompleteRead`. asyncio: `reader.feed_eof()`. Calling it again changes
    /// nothing.
    ///
    /// Any thread: on another one it is forwarded to the loop (see "Threads").
    ///
    /// - Throws: `StreamError.loopClosed` from another thread when the loop is closed.
    public func feedEOF() throws(StreamError) {
        if loop.isOnLoopThread { return markEOF() }
        try forward { reader in reader.markEOF() }
    }

    /// Makes every later read throw `error` as it is, and ends the waiting read with it; the
    /// bytes held stay (no read returns them). A second call replaces the error.
    /// asyncio: `reader.set_exception(exc)`.
    ///
    /// Any thread: on another one it is forwarded to the loop (see "Threads").
    ///
    /// - Throws: `StreamError.loopClosed` from another thread when the loop is closed.
    public func setException(_ error: any Error) throws(StreamError) {
        if loop.isOnLoopThread { return fail(with: error) }
        try forward { reader in reader.fail(with: error) }
    }

    // MARK: State, read from anywhere

    /// Whether `feedEOF()` was called and every byte was read. asyncio: `reader.at_eof()`.
    /// From another thread, a snapshot (see "Threads").
    public var isAtEOF: Bool {
        guard loop.isOnLoopThread else {
            let status = ml_load_relaxed(statusWord)
            return status & 1 != 0 && status >> 4 == 0
        }
        return eof && buffer.isEmpty
    }

    /// The error given to `setException`, nil if none. asyncio: `reader.exception()`. From
    /// another thread, a snapshot (see "Threads").
    public var exception: (any Error)? {
        if loop.isOnLoopThread && !failed { return nil }
        return sharedLock.withLock { storedException }
    }

    /// The number of bytes received and not read yet (asyncio: `len(reader._buffer)`, private
    /// there). From another thread, a snapshot (see "Threads").
    package var bufferedCount: Int {
        loop.isOnLoopThread ? buffer.count : Int(ml_load_relaxed(statusWord) >> 4)
    }

    /// asyncio's repr: `<StreamReader 4 bytes eof limit=123 waiter exception=... transport
    /// paused>`, each part only when it applies. From another thread, a snapshot.
    public var description: String {
        let status = loop.isOnLoopThread ? currentStatus : ml_load_relaxed(statusWord)
        var parts = ["StreamReader"]
        if status >> 4 > 0 { parts.append("\(status >> 4) bytes") }
        if status & 1 != 0 { parts.append("eof") }
        if limit != Self.defaultLimit { parts.append("limit=\(limit)") }
        if status & 2 != 0 { parts.append("waiter") }
        if let exception { parts.append("exception=\(exception)") }
        if status & 8 != 0 { parts.append("transport") }
        if status & 4 != 0 { parts.append("paused") }
        return "<" + parts.joined(separator: " ") + ">"
    }

    // MARK: On the loop's thread

    /// Hands `change` to the loop: called on another thread (or while the loop is not running).
    private func forward(_ change: @escaping @Sendable (StreamReader) throws(StreamError) -> Void) throws(StreamError) {
        do {
            try loop.execute { [self] in try change(self) }
        } catch {
            throw .loopClosed
        }
    }

    private func append<Bytes: Collection<UInt8>>(_ data: Bytes) throws(StreamError) {
        guard !eof else { throw .feedAfterEOF }
        precondition(!receiving, "feedData called from inside feed(capacity:_:)'s receive")
        guard !data.isEmpty else { return }
        buffer.append(contentsOf: data)
        didFeed()
    }

    private func append(_ data: UnsafeRawBufferPointer) throws(StreamError) {
        guard !eof else { throw .feedAfterEOF }
        precondition(!receiving, "feedData called from inside feed(capacity:_:)'s receive")
        guard !data.isEmpty else { return }
        buffer.append(data)
        didFeed()
    }

    /// After bytes were appended: wake the read, then pause the transport past twice the limit
    /// (asyncio's order).
    private func didFeed() {
        wakeWaiter(throwing: nil)
        if !paused, buffer.count - limit > limit, let transport {  // count > 2 * limit, without overflow
            paused = true  // before the call: a transport that calls back finds it done
            transport.pauseReading()
        }
        publishStatus()
    }

    private func markEOF() {
        eof = true
        wakeWaiter(throwing: nil)
        publishStatus()
    }

    private func fail(with error: any Error) {
        sharedLock.withLock { storedException = error }
        failed = true
        wakeWaiter(throwing: error)
        publishStatus()
    }

    /// asyncio's `_maybe_resume_transport`: after a read took bytes.
    func maybeResumeTransport() {
        if paused, buffer.count <= limit {
            paused = false
            transport?.resumeReading()
        }
        publishStatus()
    }

    /// The status word's value for the current state.
    private var currentStatus: ml_word_t {
        var status = ml_word_t(buffer.count) << 4
        if eof { status |= 1 }
        if waiting { status |= 2 }
        if paused { status |= 4 }
        if hasTransport { status |= 8 }
        return status
    }

    /// Publishes the snapshot other threads read; after every change of the state it shows.
    func publishStatus() {
        ml_store_relaxed(statusWord, currentStatus)
    }
}
