import _MultiLoopEventLoop
import _MultiLoopSystem

/// A mutual-exclusion lock for tasks. asyncio: `asyncio.Lock`.
///
/// Thread-safe: one lock may be used by tasks of any loop, of several loops at once, and by plain
/// Swift tasks. A task that must wait is suspended (its thread and loop go on running other work)
/// and, once it gets the lock, resumes on its own executor: a loop's task on its loop.
///
/// - Fairness: strictly FIFO. `release()` hands the lock straight to the oldest waiter (the lock
///   stays locked on the way), so a task calling `acquire()` meanwhile cannot take it first.
/// - Cancellation: a waiting task that is cancelled stops waiting and `acquire()` throws
///   `CancellationError`; it is off the queue at once. If the cancellation races with the
///   hand-over (the task is cancelled by the time it resumes with the lock), `acquire()` passes
///   the lock on to the next waiter (or unlocks it) and throws `CancellationError`: the lock is
///   never lost and never kept by a task whose `acquire()` threw.
/// - An `acquire()` that can take the lock at once does so without suspending, even in a task
///   already cancelled (asyncio delivers a cancellation only at a suspension); it allocates
///   nothing.
/// - As in asyncio, the lock has no owner: any task (or thread) may release it, and it is not
///   reentrant (a task that acquires a lock it holds waits until another task releases it, or
///   until it is cancelled).
public final class Lock: @unchecked Sendable, CustomStringConvertible {
    private let mutex = PThreadMutex()
    /// Guarded by `mutex`. Invariant: `waiters` is empty unless `locked` (a release with waiters
    /// hands the lock over instead of unlocking it).
    private var locked = false
    private let waiters = WaiterQueue<Void, Void>()

    public init() {}

    /// Whether the lock is held (or being handed to a waiter). asyncio: `locked()`.
    /// A snapshot: another thread may change it as soon as it is read.
    public var isLocked: Bool { mutex.withLock { locked } }

    /// How many tasks wait to acquire the lock. A snapshot for diagnostics and tests: another
    /// thread may change it as soon as it is read.
    public var waiterCount: Int { mutex.withLock { waiters.count } }

    /// Acquires the lock, waiting (suspended) while another task holds it. asyncio:
    /// `await lock.acquire()`.
    ///
    /// - Throws: `CancellationError` if the task is cancelled while it waits; it then does not
    ///   hold the lock.
    public func acquire() async throws {
        let waiter: Waiter<Void, Void>? = mutex.withLock {
            if !locked {
                locked = true
                return nil
            }
            return waiters.enqueue(())
        }
        guard let waiter else { return }
        try await waiters.wait(for: waiter, under: mutex)
        // The lock was handed to us. A task cancelled by now does not keep it.
        if Task.isCancelled {
            try? release()  // cannot fail unless another task released our lock (see the class)
            throw CancellationError()
        }
    }

    /// Releases the lock: the oldest waiter gets it, or, with none, it is unlocked. Any thread,
    /// never suspends. asyncio: `lock.release()`.
    ///
    /// - Throws: `SyncError.releaseUnlocked` if the lock is not locked (nothing changes).
    public func release() throws(SyncError) {
        let wakeup = try mutex.withLock { () throws(SyncError) -> Wakeup<Void>? in
            guard locked else { throw .releaseUnlocked }
            guard let next = waiters.fulfillFirst(with: ()) else {
                locked = false
                return nil
            }
            return next.wakeup  // `locked` stays true: the lock is the waiter's now
        }
        wakeup?.resume()
    }

    /// Runs `body` holding the lock, and releases it however `body` ends. asyncio:
    /// `async with lock:`.
    ///
    /// `body` runs in the caller's isolation. If `body` releases the lock itself and returns,
    /// the final release throws `SyncError.releaseUnlocked` (if it throws, its error wins).
    ///
    /// - Throws: `CancellationError` if the task is cancelled while waiting for the lock (`body`
    ///   does not run); what `body` throws; `SyncError.releaseUnlocked` as above.
    public func withLock<T>(isolation: isolated (any Actor)? = #isolation,
                            _ body: () async throws -> T) async throws -> T {
        try await acquire()
        let result: T
        do {
            result = try await body()
        } catch {
            try? release()
            throw error
        }
        try release()
        return result
    }

    /// asyncio's repr: whether locked, and how many tasks wait.
    public var description: String {
        mutex.withLock { "<Lock \(locked ? "locked" : "unlocked"), waiters: \(waiters.count)>" }
    }
}
