/// White-box views of a reader's state, for tests and diagnostics. The loop's thread only
/// (nil elsewhere): they read the loop-confined state itself, not the published snapshot.
extension StreamReader {
    /// A copy of the bytes held (asyncio tests read `reader._buffer`).
    package var bufferedBytes: [UInt8]? {
        loop.isOnLoopThread ? buffer.copyBytes() : nil
    }

    /// The size of the buffer's storage in bytes (0 when it holds none).
    package var bufferCapacity: Int? {
        loop.isOnLoopThread ? buffer.capacity : nil
    }

    /// How many times the buffer allocated storage.
    package var bufferAllocations: Int? {
        loop.isOnLoopThread ? buffer.allocations : nil
    }

    /// Whether the transport was asked to pause and not resumed since (asyncio: `_paused`).
    package var isTransportPaused: Bool? {
        loop.isOnLoopThread ? paused : nil
    }

    /// Whether a read is suspended for data and no feed or cancellation has ended its wait
    /// yet (asyncio: `_waiter is not None`, which its wake-up clears).
    package var hasWaiter: Bool? {
        guard loop.isOnLoopThread else { return nil }
        return waiting && sharedLock.withLock { armedContinuation != nil }
    }

    /// Whether a read is suspended for data, its wait ended or not: until it resumes on the
    /// loop, another read that must wait gets `StreamError.concurrentRead`.
    package var isReadWaiting: Bool? {
        loop.isOnLoopThread ? waiting : nil
    }
}
