import _MultiLoopEventLoop
import _MultiLoopSystem

/// A counter of permits that tasks acquire and release. asyncio: `asyncio.Semaphore`.
///
/// `acquire()` takes a permit, waiting (suspended) while there is none; `release()` gives one
/// back. At most `value` (the initial value) tasks hold a permit at once, if each releases only
/// what it acquired; `release()` is not bounded (see `BoundedSemaphore`).
///
/// Thread-safe: usable by tasks of any loop, of several loops at once, and by plain Swift tasks.
/// A waiting task resumes, with its permit, on its own executor (a loop's task on its loop).
///
/// - Fairness: strictly FIFO. `release()` hands the permit straight to the oldest waiter, so a
///   task calling `acquire()` meanwhile cannot take it first.
/// - Cancellation: a waiting task that is cancelled stops waiting and `acquire()` throws
///   `CancellationError`, holding no permit. If the cancellation races with the hand-over, the
///   permit is passed on to the next waiter (or returned): never lost.
/// - An `acquire()` that can take a permit at once does so without suspending, even in a task
///   already cancelled (asyncio delivers a cancellation only at a suspension).
public final class Semaphore: Sendable, CustomStringConvertible {
    private let permits: Permits

    /// A semaphore with `value` permits (asyncio's default is 1).
    /// - Throws: `SyncError.invalidValue` if `value` is negative.
    public init(value: Int = 1) throws(SyncError) {
        permits = try Permits(value: value, bounded: false)
    }

    /// Whether no permit is free: an `acquire()` now would wait. asyncio: `locked()`. A snapshot.
    public var isLocked: Bool { permits.isLocked }

    /// The free permits and how many tasks wait (for tests and diagnostics). A snapshot.
    var state: (free: Int, waiters: Int) { permits.state }

    /// How many tasks wait for a permit. A snapshot for diagnostics and tests: another thread
    /// may change it as soon as it is read.
    public var waiterCount: Int { permits.waiterCount }

    /// Takes a permit, waiting while there is none. asyncio: `await semaphore.acquire()`.
    /// - Throws: `CancellationError` if the task is cancelled while it waits (it holds no permit).
    public func acquire() async throws { try await permits.acquire() }

    /// Gives a permit back: to the oldest waiter, or to the count. Any thread, never suspends.
    /// asyncio: `semaphore.release()`.
    /// - Throws: `SyncError.tooManyPermits` when `Int.max` permits are already free (the count
    ///   is unchanged); asyncio's count has no limit.
    public func release() throws(SyncError) { try permits.release(checkingBound: false) }

    /// Runs `body` holding a permit, and releases it however `body` ends. asyncio:
    /// `async with semaphore:`. `body` runs in the caller's isolation.
    /// - Throws: `CancellationError` if the task is cancelled while waiting for the permit (`body`
    ///   does not run); what `body` throws.
    public func withPermit<T>(isolation: isolated (any Actor)? = #isolation,
                              _ body: () async throws -> T) async throws -> T {
        try await permits.acquire()
        defer { permits.releaseUnbounded() }
        return try await body()
    }

    /// asyncio's repr: the free permits (or locked), and how many tasks wait.
    public var description: String { "<Semaphore \(permits.summary)>" }
}

/// A semaphore that refuses to be released more times than it was acquired. asyncio:
/// `asyncio.BoundedSemaphore`.
///
/// Everything as `Semaphore`, except that `release()` throws `SyncError.releasedTooManyTimes`
/// when the free permits would exceed the initial value. Like asyncio's, it counts permits and
/// does not know who holds them: an extra release is caught when the count would pass the bound,
/// which may be at a later, legitimate release (a release with tasks waiting hands its permit
/// over and is never refused, unless the bound is 0).
public final class BoundedSemaphore: Sendable, CustomStringConvertible {
    private let permits: Permits

    /// A bounded semaphore with `value` permits, which is also the bound (asyncio's default is 1).
    /// - Throws: `SyncError.invalidValue` if `value` is negative.
    public init(value: Int = 1) throws(SyncError) {
        permits = try Permits(value: value, bounded: true)
    }

    /// Whether no permit is free: an `acquire()` now would wait. asyncio: `locked()`. A snapshot.
    public var isLocked: Bool { permits.isLocked }

    /// The free permits and how many tasks wait (for tests and diagnostics). A snapshot.
    var state: (free: Int, waiters: Int) { permits.state }

    /// How many tasks wait for a permit. A snapshot for diagnostics and tests: another thread
    /// may change it as soon as it is read.
    public var waiterCount: Int { permits.waiterCount }

    /// Takes a permit, waiting while there is none. asyncio: `await semaphore.acquire()`.
    /// - Throws: `CancellationError` if the task is cancelled while it waits (it holds no permit).
    public func acquire() async throws { try await permits.acquire() }

    /// Gives a permit back: to the oldest waiter, or to the count. Any thread, never suspends.
    /// asyncio: `semaphore.release()`.
    /// - Throws: `SyncError.releasedTooManyTimes` if every permit is already free (nothing
    ///   changes).
    public func release() throws(SyncError) { try permits.release(checkingBound: true) }

    /// Runs `body` holding a permit, and releases it however `body` ends. asyncio:
    /// `async with semaphore:`. `body` runs in the caller's isolation.
    /// - Throws: `CancellationError` if the task is cancelled while waiting for the permit (`body`
    ///   does not run); what `body` throws; `SyncError.releasedTooManyTimes` if `body` released
    ///   extra permits and returned (if it throws, its error wins).
    public func withPermit<T>(isolation: isolated (any Actor)? = #isolation,
                              _ body: () async throws -> T) async throws -> T {
        try await permits.acquire()
        let result: T
        do {
            result = try await body()
        } catch {
            try? permits.release(checkingBound: true)
            throw error
        }
        try permits.release(checkingBound: true)
        return result
    }

    /// asyncio's repr: the free permits (or locked), and how many tasks wait.
    public var description: String { "<BoundedSemaphore \(permits.summary)>" }
}

/// The state both semaphores share: free permits and the FIFO of waiting tasks.
final class Permits: @unchecked Sendable {
    private let mutex = PThreadMutex()
    /// The initial value: the bound of a bounded semaphore.
    private let initial: Int
    /// Guarded by `mutex`. Invariant: `waiters` is empty unless `free` is 0 (a release with
    /// waiters hands its permit over instead of counting it).
    private var free: Int
    private let waiters = WaiterQueue<Void, Void>()

    init(value: Int, bounded: Bool) throws(SyncError) {
        guard value >= 0 else { throw .invalidValue(value) }
        initial = bounded ? value : .max
        free = value
    }

    var isLocked: Bool { mutex.withLock { free == 0 } }

    var state: (free: Int, waiters: Int) { mutex.withLock { (free, waiters.count) } }

    var waiterCount: Int { mutex.withLock { waiters.count } }

    var summary: String {
        mutex.withLock { "\(free == 0 ? "locked" : "unlocked, value: \(free)"), waiters: \(waiters.count)" }
    }

    func acquire() async throws {
        let waiter: Waiter<Void, Void>? = mutex.withLock {
            if free > 0 {
                free -= 1
                return nil
            }
            return waiters.enqueue(())
        }
        guard let waiter else { return }
        try await waiters.wait(for: waiter, under: mutex)
        // A permit was handed to us. A task cancelled by now does not keep it.
        if Task.isCancelled {
            releaseUnbounded()
            throw CancellationError()
        }
    }

    /// `release` for permits known to be held (one taken by `withPermit`, one handed to a
    /// cancelled waiter): never refused, and it cannot overflow (a held permit is not free).
    func releaseUnbounded() {
        let wakeup: Wakeup<Void>? = mutex.withLock { give() }
        wakeup?.resume()
    }

    func release(checkingBound: Bool) throws(SyncError) {
        let wakeup = try mutex.withLock { () throws(SyncError) -> Wakeup<Void>? in
            if checkingBound && free >= initial { throw .releasedTooManyTimes }
            // Free permits imply no waiter (the invariant above), so this release would count.
            if free == .max { throw .tooManyPermits }
            return give()
        }
        wakeup?.resume()
    }

    /// Under `mutex`: hands a permit to the oldest waiter, else counts it free.
    private func give() -> Wakeup<Void>? {
        if let next = waiters.fulfillFirst(with: ()) { return next.wakeup }
        free += 1
        return nil
    }
}
