import _MultiLoopEventLoop
import _MultiLoopSystem

/// A FIFO queue of items between tasks, optionally bounded. asyncio: `asyncio.Queue`.
///
/// Thread-safe: producers and consumers may be tasks of any loop (several at once), plain Swift
/// tasks, or, for the calls that never wait (`putNowait`, `getNowait`, `taskDone`), any thread. A task that must wait (`put` on a full queue,
/// `get` on an empty one, `join`) is suspended and resumes on its own executor (a loop's task on
/// its loop).
///
/// - Order: items come out in the order they went in; waiting getters are served oldest first,
///   and so are waiting putters. An item put while a getter waits goes straight to the oldest
///   getter; a slot freed while a putter waits goes straight to the oldest putter's item. So no
///   task overtakes one that was already waiting: `getNowait` finds nothing while getters wait,
///   and `putNowait` finds the queue full while putters wait.
/// - Size: an item handed to a waiting getter stays in the queue (it counts in `count` and
///   toward `maxSize`) until that getter resumes and takes it, as in asyncio, where the woken
///   getter takes its item when it runs; but it is reserved for that getter: `getNowait` may
///   throw `queueEmpty` while `count` is not 0. The queue never holds more than `maxSize` items.
/// - Cancellation: a cancelled `get` never loses an item. If it was cancelled while waiting, it
///   simply leaves; if it was handed an item as it was cancelled, the item goes to the next
///   waiting getter or back to the front of the queue, and `get` throws `CancellationError`. A
///   cancelled `put` that was still waiting leaves without putting its item and throws
///   `CancellationError`; one whose item was already taken into the queue returns normally (the
///   item will be delivered). A cancelled `join` leaves.
/// - Calls that can complete at once (an item is there, there is room, nothing unfinished) do so
///   without suspending, even in a cancelled task.
/// - Tasks: every item put counts as an unfinished task until a `taskDone()` for it; `join()`
///   waits until none is unfinished.
public final class AsyncQueue<Element: Sendable>: @unchecked Sendable, CustomStringConvertible {
    /// The most items the queue holds; 0 or less: unbounded. asyncio: `maxsize` (spelled in
    /// Swift's casing: docs/api-guidelines.md).
    public let maxSize: Int

    private let mutex = PThreadMutex()
    // Guarded by `mutex`, as is everything below. Invariants: `getters` is empty unless `items`
    // is (an item put while getters wait goes to the oldest); `putters` is empty unless the
    // queue is full (a slot freed while putters wait goes to the oldest).
    private var items = RingBuffer<Element>()
    /// Items handed to a waiting getter that has not resumed yet: still in the queue for
    /// `count` and `maxSize`, until the getter settles it (`settleHandedItem`).
    private var handedToGetters = 0
    private var unfinishedTasks = 0
    private let getters = WaiterQueue<Element, Void>()
    private let putters = WaiterQueue<Void, Element>()
    private let joiners = WaiterQueue<Void, Void>()

    /// A queue holding at most `maxSize` items; 0 (the default) or less: unbounded.
    /// asyncio: `asyncio.Queue(maxsize=0)`.
    public init(maxSize: Int = 0) {
        self.maxSize = maxSize
    }

    /// The number of items in the queue, those already handed to a waiting getter included.
    /// asyncio: `qsize()`. A snapshot.
    public var count: Int { mutex.withLock { size } }

    /// Whether the queue holds no item. asyncio: `empty()`. A snapshot.
    public var isEmpty: Bool { mutex.withLock { size == 0 } }

    /// Whether the queue holds `maxSize` items (never for an unbounded queue). asyncio: `full()`.
    /// A snapshot.
    public var isFull: Bool { mutex.withLock { full } }

    /// How many tasks wait in `get`, `put` and `join` (for tests and diagnostics). A snapshot.
    var waiterCounts: (getters: Int, putters: Int, joiners: Int) {
        mutex.withLock { (getters.count, putters.count, joiners.count) }
    }

    /// How many tasks wait in `get` (for an item). A snapshot for diagnostics and tests: another
    /// thread may change it as soon as it is read.
    public var waitingGetterCount: Int { mutex.withLock { getters.count } }

    /// How many tasks wait in `put` (for room). A snapshot for diagnostics and tests: another
    /// thread may change it as soon as it is read.
    public var waitingPutterCount: Int { mutex.withLock { putters.count } }

    /// Puts `item` at the back, waiting while the queue is full. asyncio: `await queue.put(item)`.
    ///
    /// - Throws: `CancellationError` if the task is cancelled while it waits for room; the item
    ///   is then not in the queue.
    public func put(_ item: Element) async throws {
        let step: PutStep = mutex.withLock {
            if full { return .wait(putters.enqueue(item)) }
            return .done(accept(item))
        }
        switch step {
        case .done(let wakeup):
            wakeup?.resume()
        case .wait(let waiter):
            // Once fulfilled, the item is in the queue: a cancellation after that changes nothing.
            try await putters.wait(for: waiter, under: mutex)
        }
    }

    /// Puts `item` at the back if there is room. Any thread. asyncio: `queue.put_nowait(item)`.
    /// - Throws: `SyncError.queueFull` if the queue is full (or putters wait).
    public func putNowait(_ item: Element) throws(SyncError) {
        let wakeup = try mutex.withLock { () throws(SyncError) -> Wakeup<Element>? in
            if full { throw .queueFull }
            return accept(item)
        }
        wakeup?.resume()
    }

    /// Takes the item at the front, waiting while there is none. asyncio: `await queue.get()`.
    ///
    /// - Throws: `CancellationError` if the task is cancelled while it waits; no item is lost.
    public func get() async throws -> Element {
        let step: GetStep = mutex.withLock {
            if let item = items.popFirst() { return .got(item, admitPutter()) }
            return .wait(getters.enqueue(()))
        }
        switch step {
        case .got(let item, let admission):
            admission.resume()
            return item
        case .wait(let waiter):
            let item = try await getters.wait(for: waiter, under: mutex)
            let cancelled = Task.isCancelled
            let admission = mutex.withLock { settleHandedItem(item, keep: !cancelled) }
            admission.resume()
            if cancelled { throw CancellationError() }
            return item
        }
    }

    /// Takes the item at the front if there is one for the taking. Any thread. asyncio:
    /// `queue.get_nowait()`.
    /// - Throws: `SyncError.queueEmpty` if there is none (items handed to waiting getters are
    ///   theirs).
    public func getNowait() throws(SyncError) -> Element {
        let (item, admission) = try mutex.withLock { () throws(SyncError) -> (Element, Admission) in
            guard let item = items.popFirst() else { throw .queueEmpty }
            return (item, admitPutter())
        }
        admission.resume()
        return item
    }

    /// Marks one item taken from the queue as processed. Any thread. asyncio: `task_done()`.
    /// When no unfinished item is left, every `join()` returns.
    /// - Throws: `SyncError.taskDoneTooManyTimes` if called more times than items were put.
    public func taskDone() throws(SyncError) {
        let wakeups = try mutex.withLock { () throws(SyncError) -> [Wakeup<Void>] in
            guard unfinishedTasks > 0 else { throw .taskDoneTooManyTimes }
            unfinishedTasks -= 1
            return unfinishedTasks == 0 ? joiners.fulfillAll(with: ()) : []
        }
        for wakeup in wakeups { wakeup.resume() }
    }

    /// Waits until every item put has been marked done with `taskDone()`; returns at once if so.
    /// asyncio: `await queue.join()`.
    /// - Throws: `CancellationError` if the task is cancelled while it waits (also when woken
    ///   but cancelled by the time it resumes, as in asyncio).
    public func join() async throws {
        let waiter: Waiter<Void, Void>? = mutex.withLock { unfinishedTasks == 0 ? nil : joiners.enqueue(()) }
        guard let waiter else { return }
        try await joiners.wait(for: waiter, under: mutex)
        if Task.isCancelled { throw CancellationError() }
    }

    /// asyncio's repr: the bound (`maxSize`), size, waiting getters and putters, unfinished tasks.
    public var description: String {
        mutex.withLock {
            "<AsyncQueue maxSize: \(maxSize), count: \(size), getters: \(getters.count), "
                + "putters: \(putters.count), unfinished: \(unfinishedTasks)>"
        }
    }

    // MARK: Under `mutex`

    private var size: Int { items.count + handedToGetters }
    private var full: Bool { maxSize > 0 && size >= maxSize }

    /// Takes `item` in (the caller checked there is room): to the oldest getter, else at the back.
    private func accept(_ item: Element) -> Wakeup<Element>? {
        unfinishedTasks += 1
        if let getter = getters.fulfillFirst(with: item) {
            handedToGetters += 1
            return getter.wakeup
        }
        items.append(item)
        return nil
    }

    /// After a slot was freed: lets the oldest waiting putter's item in, if there is room.
    private func admitPutter() -> Admission {
        guard !full, let putter = putters.fulfillFirst(with: ()) else { return Admission() }
        return Admission(putter: putter.wakeup, getter: accept(putter.payload))
    }

    /// A getter that was handed `item` has resumed: it keeps the item (its slot is free), or,
    /// cancelled, gives it to the next getter or back to the front.
    private func settleHandedItem(_ item: Element, keep: Bool) -> Admission {
        handedToGetters -= 1
        if keep { return admitPutter() }
        if let next = getters.fulfillFirst(with: item) {
            handedToGetters += 1
            return Admission(getter: next.wakeup)
        }
        items.prepend(item)
        return Admission()
    }

    /// What `put` does once it has looked at the queue.
    private enum PutStep {
        case done(Wakeup<Element>?)
        case wait(Waiter<Void, Element>)
    }

    /// What `get` does once it has looked at the queue.
    private enum GetStep {
        case got(Element, Admission)
        case wait(Waiter<Element, Void>)
    }

    /// The tasks a freed slot wakes: the putter let in, and the getter its item went to.
    private struct Admission {
        var putter: Wakeup<Void>?
        var getter: Wakeup<Element>?

        func resume() {
            putter?.resume()
            getter?.resume()
        }
    }
}
