import _MultiLoopEventLoop
import _MultiLoopSystem

/// The reads: each runs on the reader's loop (`onLoop`), takes what it needs from the buffer,
/// and otherwise waits for the next feed (`waitForData`), as asyncio's do.
///
/// Cancellation (Swift's, difference 13 of docs/asyncio-mapping.md): a read that can finish
/// without waiting does, even in a cancelled task; a read cancelled while it waits throws
/// `CancellationError` and leaves every byte in the reader (a read takes bytes only once it has
/// all it needs). The reader stays usable: the next read may start once the cancelled one has
/// resumed on the loop.
extension StreamReader {
    /// Reads up to `n` bytes. asyncio: `await reader.read(n=-1)`.
    ///
    /// - `n` > 0: waits until at least one byte is held (or the end of the stream), then returns
    ///   up to `n` of them: empty at the end of the stream.
    /// - `n` == 0: returns nothing at once.
    /// - `n` < 0: waits for the end of the stream and returns everything (asyncio reads in
    ///   chunks of `limit` until then; here the bytes stay in the reader until the end arrives,
    ///   with the same flow control, so a cancelled `read()` loses none).
    ///
    /// The result is not bounded by `limit`. A paused transport is resumed when the reader
    /// falls to its limit, or before waiting.
    ///
    /// - Throws: the error given to `setException`; `StreamError.concurrentRead` if it must
    ///   wait while another read waits; `CancellationError` if cancelled while waiting;
    ///   `StreamError.loopClosed`.
    nonisolated(nonsending) public func read(_ n: Int = -1) async throws -> [UInt8] {
        if mayReadHere(#isolation) { return try await readOnLoop(n) }
        return try await viaLoop { try await readOnLoop(n) }
    }

    /// Reads one line, up to and including its newline (`0x0A`). asyncio: `await
    /// reader.readline()`.
    ///
    /// At the end of the stream it returns the last bytes, without a newline, and then empty
    /// arrays: every other line ends with its newline, so an empty one means the end. The
    /// limit applies to the line without its newline.
    ///
    /// - Throws: `StreamError.lineTooLong(separatorFound:)` when the line is longer than `limit`:
    ///   the line and its newline are then discarded, or, when no newline was found within the
    ///   limit, every byte held (asyncio: `ValueError`); the error given to `setException`;
    ///   `StreamError.concurrentRead`; `CancellationError` if cancelled while waiting;
    ///   `StreamError.loopClosed`.
    nonisolated(nonsending) public func readLine() async throws -> [UInt8] {
        if mayReadHere(#isolation) { return try await readLineOnLoop() }
        return try await viaLoop { try await readLineOnLoop() }
    }

    /// Reads until `separator` and returns the bytes up to and including it. asyncio: `await
    /// reader.readuntil(separator=b'\n')`.
    ///
    /// - Throws: `StreamError.invalidSeparator` for an empty separator (checked first);
    ///   the error given to `setException`; `StreamError.incompleteRead(partial:expected: nil)`
    ///   when the stream ends first (every byte held is in `partial`, the reader is left empty);
    ///   `StreamError.limitOverrun(consumed:)` when the separator is not within `limit` bytes
    ///   (plus its length) or starts after them: the bytes stay in the reader;
    ///   `StreamError.concurrentRead`; `CancellationError` if cancelled while waiting;
    ///   `StreamError.loopClosed`.
    nonisolated(nonsending) public func readUntil(_ separator: [UInt8] = [0x0A]) async throws -> [UInt8] {
        guard !separator.isEmpty else { throw StreamError.invalidSeparator }
        if mayReadHere(#isolation) { return try await readUntilOnLoop(.one(separator)) }
        return try await viaLoop { try await readUntilOnLoop(.one(separator)) }
    }

    /// Reads until any of `separators` and returns the shortest prefix of the stream that ends
    /// with one of them; for the limit, the shortest separator ending there is the one that
    /// matched. asyncio 3.13: `await reader.readuntil((sep1, sep2, ...))`.
    ///
    /// - Throws: `StreamError.invalidSeparator` with no separator or an empty one; otherwise as
    ///   `readUntil(_:)`.
    nonisolated(nonsending) public func readUntil(anyOf separators: [[UInt8]]) async throws -> [UInt8] {
        guard !separators.isEmpty, !separators.contains(where: \.isEmpty) else { throw StreamError.invalidSeparator }
        if mayReadHere(#isolation) { return try await readUntilOnLoop(Separators(anyOf: separators)) }
        return try await viaLoop { try await readUntilOnLoop(Separators(anyOf: separators)) }
    }

    /// Reads exactly `n` bytes. asyncio: `await reader.readexactly(n)`. The result is not
    /// bounded by `limit`; 0 returns nothing at once.
    ///
    /// - Throws: `StreamError.invalidSize` for `n` < 0 (checked first);
    ///   the error given to `setException`; `StreamError.incompleteRead(partial:expected: n)`
    ///   when the stream ends first (every byte held is in `partial`, the reader is left empty);
    ///   `StreamError.concurrentRead`; `CancellationError` if cancelled while waiting;
    ///   `StreamError.loopClosed`.
    nonisolated(nonsending) public func readExactly(_ n: Int) async throws -> [UInt8] {
        guard n >= 0 else { throw StreamError.invalidSize(n) }
        if mayReadHere(#isolation) { return try await readExactlyOnLoop(n) }
        return try await viaLoop { try await readExactlyOnLoop(n) }
    }

    // MARK: Getting to the loop

    // The public reads are `nonisolated(nonsending)`: they start on the caller's executor,
    // without a hop. A read's body (`…OnLoop`, `waitForData`, also `nonisolated(nonsending)`)
    // touches the reader's loop-only state, so it must run, and resume after every wait, on the
    // loop's thread:
    // - right where it is called (`mayReadHere`) when the caller is nonisolated, its task
    //   prefers the loop as its executor (a loop task) and it runs on the loop's thread: a
    //   `nonisolated(nonsending)` function resumes where its nonisolated caller would, on the
    //   task's preferred executor, the loop. No runtime call but the preference check; every
    //   hop this saves took the task's status-record lock (executor preference), about 0.5% of
    //   a 1 KiB echo each (docs/benchmarks.md, "Echo server");
    // - otherwise through `viaLoop`, with the loop as the preference for the call: callers on
    //   an actor (which a nonsending body would resume on), tasks of other executors, and a
    //   task that merely started on the loop's thread (`Task.immediate`), which would resume
    //   elsewhere after a wait.

    /// Whether a read called with the caller's `isolation` may run where it is (see above).
    private func mayReadHere(_ isolation: (any Actor)?) -> Bool {
        isolation == nil && loop.isOnLoopThread && prefersLoop()
    }

    /// Runs `operation` on the reader's loop, with the loop as the task's executor preference
    /// for the call (the runtime hops to the loop and, when the call returns, back to the
    /// caller's executor).
    private func viaLoop(_ operation: () async throws -> [UInt8]) async throws -> [UInt8] {
        if loop.isClosed { throw StreamError.loopClosed }
        return try await withTaskExecutorPreference(loop) {
            // A job enqueued on a closed loop runs on the global executor: not ours to touch.
            guard loop.isOnLoopThread else { throw StreamError.loopClosed }
            return try await operation()
        }
    }

    /// Whether the current task's executor preference is the reader's loop.
    private func prefersLoop() -> Bool {
        withUnsafeCurrentTask { $0?.unownedTaskExecutor == loopExecutor }
    }

    // MARK: The reads, on the loop

    nonisolated(nonsending) private func readOnLoop(_ n: Int) async throws -> [UInt8] {
        if failed { throw storedError }
        if n == 0 { return [] }
        if n < 0 {
            while !eof { try await waitForData() }
            let everything = buffer.takeAll()
            maybeResumeTransport()
            return everything
        }
        if buffer.isEmpty && !eof { try await waitForData() }
        let bytes = buffer.take(n)
        maybeResumeTransport()
        return bytes
    }

    nonisolated(nonsending) private func readExactlyOnLoop(_ n: Int) async throws -> [UInt8] {
        if failed { throw storedError }
        if n == 0 { return [] }
        while buffer.count < n {
            if eof {
                let partial = buffer.takeAll()
                publishStatus()
                throw StreamError.incompleteRead(partial: partial, expected: n)
            }
            try await waitForData()
        }
        let bytes = buffer.take(n)
        maybeResumeTransport()
        return bytes
    }

    nonisolated(nonsending) private func readLineOnLoop() async throws -> [UInt8] {
        switch try await scan(for: .one(Separators.newline)) {
        case .found(let end):
            let line = buffer.take(end)
            maybeResumeTransport()
            return line
        case .endOfStream:
            let partial = buffer.takeAll()
            publishStatus()
            return partial
        case .overrun(let consumed):
            // asyncio: drop the line with its newline if the newline is there, else everything.
            let separatorFound = consumed < buffer.count && buffer.byte(at: consumed) == 0x0A
            if separatorFound { buffer.removeFirst(consumed + 1) } else { buffer.removeAll() }
            maybeResumeTransport()
            throw StreamError.lineTooLong(separatorFound: separatorFound)
        }
    }

    nonisolated(nonsending) private func readUntilOnLoop(_ separators: Separators) async throws -> [UInt8] {
        switch try await scan(for: separators) {
        case .found(let end):
            let chunk = buffer.take(end)
            maybeResumeTransport()
            return chunk
        case .endOfStream:
            let partial = buffer.takeAll()
            publishStatus()
            throw StreamError.incompleteRead(partial: partial, expected: nil)
        case .overrun(let consumed):
            throw StreamError.limitOverrun(consumed: consumed)
        }
    }

    /// How a scan for a separator ended.
    private enum ScanOutcome {
        /// A separator ends `end` bytes in.
        case found(end: Int)
        /// The stream ended without one; the bytes are still held.
        case endOfStream
        /// The limit was reached (asyncio's `LimitOverrunError.consumed`); the bytes are still held.
        case overrun(consumed: Int)
    }

    /// asyncio's `readuntil` loop: looks for the separators in what is held, waiting for more
    /// until one is found, the limit is passed, or the stream ends. Only the bytes not searched
    /// yet are searched again, except the last `longest - 1` (a separator may straddle two
    /// feeds).
    private func scan(for separators: Separators) async throws -> ScanOutcome {
        if failed { throw storedError }
        var offset = 0  // no separator starts before this
        while true {
            let held = buffer.count
            if held - offset >= separators.shortest {
                if let match = separators.firstMatch(in: buffer, from: offset) {
                    if match.start > limit { return .overrun(consumed: match.start) }
                    return .found(end: match.end)
                }
                offset = Swift.max(0, held + 1 - separators.longest)
                if offset > limit { return .overrun(consumed: offset) }
            }
            // After the search: the last feed before the end may have completed a separator.
            if eof { return .endOfStream }
            try await waitForData()
        }
    }

    /// The error given to `setException` (the loop's thread, with `failed` set).
    private var storedError: any Error {
        sharedLock.withLock { storedException }!
    }

    // MARK: Waiting

    /// Suspends the calling read until the next `feedData`, `feedEOF` or `setException`
    /// (asyncio: `_wait_for_data`). Resumes a paused transport first: waiting while paused
    /// would never end (asyncio: essential for `readexactly(n)` with `n` > `limit`).
    ///
    /// The wait ends exactly once: the feed takes the continuation on the loop's thread, or the
    /// task's cancellation takes it on any thread, under `sharedLock` (a per-reader word: a
    /// wait allocates nothing). Whoever takes it resumes it, which enqueues the task on its
    /// loop; only the task itself, resumed there, clears `waiting`.
    ///
    /// - Throws: `StreamError.concurrentRead` if a read already waits; the error given to
    ///   `setException`, before or while waiting; `CancellationError` if the task is or gets
    ///   cancelled.
    nonisolated(nonsending) private func waitForData() async throws {
        if waiting { throw StreamError.concurrentRead }
        // asyncio checks the exception only when a read starts: a read woken by a feed, with an
        // exception set before it resumed, would wait again for a feed that never comes.
        if failed { throw storedError }
        if paused {
            paused = false
            transport?.resumeReading()
        }
        waiting = true
        publishStatus()
        defer {
            // The invariant `mayReadHere` and `viaLoop` keep: a read resumes on the loop's thread
            // (or, once the loop is closed, wherever the runtime ran its job).
            assert(loop.isOnLoopThread || loop.isClosed, "a StreamReader read resumed off its loop's thread")
            waiting = false
            publishStatus()
        }
        waitGeneration &+= 1
        let generation = waitGeneration
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                // The handler is installed: a cancel from now on finds the continuation armed,
                // and one that came before has set the flag read here.
                let cancelled = sharedLock.withLock { () -> Bool in
                    if Task.isCancelled { return true }
                    armedContinuation = continuation
                    armedGeneration = generation
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            takeContinuation(of: generation)?.resume(throwing: CancellationError())
        }
    }

    /// Ends the current wait, if a read waits: with `error`, or normally (loop thread).
    func wakeWaiter(throwing error: (any Error)?) {
        guard waiting, let continuation = takeContinuation(of: nil) else { return }
        if let error { continuation.resume(throwing: error) } else { continuation.resume() }
    }

    /// Takes the armed continuation (of wait `generation`; nil: of any wait). Any thread.
    private func takeContinuation(of generation: UInt?) -> UnsafeContinuation<Void, any Error>? {
        sharedLock.withLock {
            guard let continuation = armedContinuation, generation == nil || generation == armedGeneration else {
                return nil
            }
            armedContinuation = nil
            return continuation
        }
    }
}

/// The separators of a `readUntil`: one (no allocation to hold it), or several sorted by
/// length (asyncio's "shortest match wins").
enum Separators {
    case one([UInt8])
    case many([[UInt8]])

    /// `readLine`'s separator, made once.
    static let newline: [UInt8] = [0x0A]

    /// Several separators, sorted by length; not empty, none empty.
    init(anyOf separators: [[UInt8]]) {
        self = separators.count == 1 ? .one(separators[0]) : .many(separators.sorted { $0.count < $1.count })
    }

    var shortest: Int {
        switch self {
        case .one(let separator): return separator.count
        case .many(let sorted): return sorted[0].count
        }
    }

    var longest: Int {
        switch self {
        case .one(let separator): return separator.count
        case .many(let sorted): return sorted[sorted.count - 1].count
        }
    }

    /// The match that ends first at or after `offset` (for equal ends, the shortest separator,
    /// found first), as asyncio's loop over the sorted separators.
    func firstMatch(in buffer: borrowing StreamBuffer, from offset: Int) -> (start: Int, end: Int)? {
        switch self {
        case .one(let separator):
            let start = separator.withUnsafeBytes { buffer.firstOccurrence(of: $0, from: offset) }
            return start.map { ($0, $0 + separator.count) }
        case .many(let sorted):
            var best: (start: Int, end: Int)?
            for separator in sorted {
                guard let start = separator.withUnsafeBytes({ buffer.firstOccurrence(of: $0, from: offset) }) else {
                    continue
                }
                if best == nil || start + separator.count < best!.end { best = (start, start + separator.count) }
            }
            return best
        }
    }
}
