import _MultiLoopEventLoop
import _MultiLoopSystem

/// A flag that tasks wait for. asyncio: `asyncio.Event`.
///
/// Thread-safe: tasks of any loop (several at once) and plain Swift tasks may wait, and any
/// thread may set or clear it. A waiting task is suspended and, once woken, resumes on its own
/// executor (a loop's task on its loop).
///
/// - `set()` wakes every task waiting at that moment; a `clear()` right after does not put them
///   back to sleep (each returns from `wait()`).
/// - Cancellation: a waiting task that is cancelled stops waiting and `wait()` throws
///   `CancellationError`; it is off the queue at once. A task woken by `set()` that is cancelled
///   by the time it resumes also throws `CancellationError` (as asyncio's would).
/// - `wait()` on a set event returns at once, without suspending, even in a cancelled task.
public final class Event: @unchecked Sendable, CustomStringConvertible {
    private let mutex = PThreadMutex()
    /// Guarded by `mutex`. Invariant: `waiters` is empty while `flag` is true.
    private var flag = false
    private let waiters = WaiterQueue<Void, Void>()

    public init() {}

    /// Whether the event is set. asyncio: `is_set()`. A snapshot.
    public var isSet: Bool { mutex.withLock { flag } }

    /// How many tasks wait (for tests and diagnostics). A snapshot.
    var waiterCount: Int { mutex.withLock { waiters.count } }

    /// Waits until the event is set; returns at once if it is. asyncio: `await event.wait()`.
    ///
    /// - Throws: `CancellationError` if the task is cancelled while it waits.
    public func wait() async throws {
        let waiter: Waiter<Void, Void>? = mutex.withLock { flag ? nil : waiters.enqueue(()) }
        guard let waiter else { return }
        try await waiters.wait(for: waiter, under: mutex)
        if Task.isCancelled { throw CancellationError() }
    }

    /// Sets the event and wakes every waiting task. Any thread; does nothing if already set.
    /// asyncio: `event.set()`.
    public func set() {
        let wakeups: [Wakeup<Void>] = mutex.withLock {
            guard !flag else { return [] }
            flag = true
            return waiters.fulfillAll(with: ())
        }
        for wakeup in wakeups { wakeup.resume() }
    }

    /// Clears the event: later `wait()`s wait until the next `set()`. Any thread.
    /// asyncio: `event.clear()`.
    public func clear() {
        mutex.withLock { flag = false }
    }

    /// asyncio's repr: whether set, and how many tasks wait.
    public var description: String {
        mutex.withLock { "<Event \(flag ? "set" : "unset"), waiters: \(waiters.count)>" }
    }
}
