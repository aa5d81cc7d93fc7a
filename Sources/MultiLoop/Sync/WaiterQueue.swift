import _MultiLoopEventLoop
import _MultiLoopSystem

/// The FIFO of tasks suspended on one primitive of this folder (a lock's acquirers, a queue's
/// getters, ...), and the suspension itself.
///
/// Not locked by itself: every member, and every field of its waiters, is guarded by the mutex of
/// the primitive that owns it, passed to `wait(for:under:)`. A primitive decides under that mutex
/// whether a task can go on at once or must wait (`enqueue`), and wakes waiters under it
/// (`fulfillFirst`, `fulfillAll`), resuming them only after releasing it (`Wakeup.resume()`).
///
/// A waiter's wait ends exactly once, decided under the mutex: by a fulfilment (the waiter is
/// taken off the queue with a value) or by its task's cancellation while it is still queued (it
/// is removed and the wait throws `CancellationError`); whichever comes first wins. The
/// continuation is resumed by whoever holds it then: the waker or the canceller if the task has
/// already suspended, else the task itself as it suspends. A fulfilment that wins a race with the
/// cancellation returns normally; the caller then sees `Task.isCancelled` and gives back what it
/// was handed.
final class WaiterQueue<Value: Sendable, Payload>: @unchecked Sendable {
    private var first: Waiter<Value, Payload>?
    private unowned(unsafe) var last: Waiter<Value, Payload>?  // kept alive by the chain from `first`
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Queues a new waiter at the back; the caller then calls `wait(for:under:)` once it has
    /// released the mutex. Under the mutex.
    func enqueue(_ payload: Payload) -> Waiter<Value, Payload> {
        let waiter = Waiter<Value, Payload>(payload: payload)
        if let last {
            last.next = waiter
            waiter.previous = last
        } else {
            first = waiter
        }
        last = waiter
        count += 1
        return waiter
    }

    /// Takes the oldest waiter off the queue and ends its wait with `value`. Returns its payload
    /// and what to resume after releasing the mutex (nil when the task has not suspended yet: it
    /// finds the value as it suspends); nil when the queue is empty. Under the mutex.
    func fulfillFirst(with value: Value) -> (payload: Payload, wakeup: Wakeup<Value>?)? {
        guard let waiter = first else { return nil }
        remove(waiter)
        return (waiter.payload, waiter.fulfill(with: value))
    }

    /// Ends every wait with `value`; returns what to resume after releasing the mutex. Under the
    /// mutex.
    func fulfillAll(with value: Value) -> [Wakeup<Value>] {
        var wakeups: [Wakeup<Value>] = []
        wakeups.reserveCapacity(count)
        while let woken = fulfillFirst(with: value) {
            if let wakeup = woken.wakeup { wakeups.append(wakeup) }
        }
        return wakeups
    }

    /// Suspends the calling task until `waiter`, queued here by `enqueue` under `mutex`, is
    /// fulfilled, and returns the value it was fulfilled with.
    ///
    /// - Throws: `CancellationError` when the task is cancelled (before or during the wait)
    ///   while the waiter is still queued; the waiter is then off the queue.
    func wait(for waiter: Waiter<Value, Payload>, under mutex: PThreadMutex) async throws -> Value {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Value, any Error>) in
                let ready: Result<Value, any Error>? = mutex.withLock {
                    switch waiter.state {
                    case .queued:
                        waiter.continuation = continuation  // the waker or the canceller resumes it
                        return nil
                    case .fulfilled(let value):
                        return .success(value)
                    case .cancelled:
                        return .failure(CancellationError())
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let continuation = mutex.withLock { () -> UnsafeContinuation<Value, any Error>? in
                guard case .queued = waiter.state else { return nil }  // fulfilled first: it won
                self.remove(waiter)
                waiter.state = .cancelled
                defer { waiter.continuation = nil }
                return waiter.continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    private func remove(_ waiter: Waiter<Value, Payload>) {
        let next = waiter.next
        if let previous = waiter.previous { previous.next = next } else { first = next }
        if let next { next.previous = waiter.previous } else { last = waiter.previous }
        waiter.next = nil
        waiter.previous = nil
        count -= 1
    }
}

/// One task suspended on a primitive, in a `WaiterQueue`. Every field is guarded by the
/// primitive's mutex.
final class Waiter<Value: Sendable, Payload>: @unchecked Sendable {
    enum State {
        /// In the queue, waiting.
        case queued
        /// Taken off the queue with this value (delivered by the waker, or by the task itself if
        /// it had not suspended yet).
        case fulfilled(Value)
        /// Taken off the queue by its task's cancellation.
        case cancelled
    }

    /// What the waiter brings along: a putter's item; `Void` for the others.
    let payload: Payload
    fileprivate var state = State.queued
    /// Set while the task is suspended and queued; taken by whoever ends the wait.
    fileprivate var continuation: UnsafeContinuation<Value, any Error>?
    fileprivate var next: Waiter?
    fileprivate unowned(unsafe) var previous: Waiter?  // kept alive by its own `next`

    fileprivate init(payload: Payload) { self.payload = payload }

    fileprivate func fulfill(with value: Value) -> Wakeup<Value>? {
        state = .fulfilled(value)
        defer { continuation = nil }
        return continuation.map { Wakeup(continuation: $0, value: value) }
    }
}

/// A suspended task to resume with a value, once the primitive's mutex is released (resuming
/// enqueues the task on its executor, which, for a closed loop, may run it right there).
struct Wakeup<Value: Sendable> {
    fileprivate let continuation: UnsafeContinuation<Value, any Error>
    fileprivate let value: Value

    func resume() { continuation.resume(returning: value) }
}
