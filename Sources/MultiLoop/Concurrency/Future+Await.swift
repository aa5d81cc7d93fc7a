import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

extension Future {
    /// Suspends the calling task until the future is done, then returns its result or rethrows
    /// its error. asyncio: `await future`.
    ///
    /// Works from any task, of any loop or of Swift's own executors. The completer resumes the
    /// waiting task directly (never running it inline: the task's job is enqueued on its
    /// executor, which for a loop task is its loop: the task runs in that loop's next
    /// iteration, as asyncio schedules a task's wake-up with `call_soon`). A future that is
    /// already done returns at once, with no suspension and no allocation; the first task to
    /// wait for a pending future waits in the future itself (no allocation either), any other
    /// in a node of the callback list (one allocation).
    ///
    /// Cancelling the awaiting task ends the wait with `CancellationError` at once. Unlike
    /// asyncio, the future itself is not cancelled: other tasks may be waiting for it, and it may
    /// belong to another loop; cancel it yourself if you own it. If the future completes at the
    /// same moment, the wait may end with its outcome instead.
    ///
    /// - Throws: the future's error (`CancelledError` if the future was cancelled);
    ///   `CancellationError` if the awaiting task is cancelled first.
    @inlinable
    public final var value: Value {
        get async throws {
            // Inlinable so that a done future costs the caller a load and no async call.
            if isDone { return try result() }
            return try await suspendUntilDone()
        }
    }

    /// The slow path of `value`: waits in the future's own slot if it is free, else in a node.
    /// Inlinable, like `complete`, to be specialized for the caller's `Value`. Without
    /// `cancellable`, a cancel of the waiting task does not end the wait (for clean-up).
    ///
    /// With `retrieving`, an error of the future that ends the wait marks it retrieved
    /// (`Future+Retrieval.swift`). A task awaiting itself is refused at once
    /// (`LoopTaskError.awaitsItself`): it would wait forever.
    @inlinable
    final func suspendUntilDone(cancellable: Bool = true, retrieving: Bool = true) async throws -> Value {
        if isTask { try refuseAwaitFromOwnBody() }
        guard retrieving else { return try await suspend(cancellable: cancellable) }
        do {
            return try await suspend(cancellable: cancellable)
        } catch {
            noteAwaited(error)
            throw error
        }
    }

    /// `suspendUntilDone` without its checks.
    @inlinable
    final func suspend(cancellable: Bool) async throws -> Value {
        if hasNoRegistrations && AwaiterWord.reserve(awaiterWord) {
            guard cancellable else { return try await suspendInSlot() }
            return try await withTaskCancellationHandler {
                try await suspendInSlot()
            } onCancel: {
                if AwaiterWord.cancel(awaiterWord) {
                    let continuation = awaiterContinuation
                    AwaiterWord.release(awaiterWord)
                    continuation.resume(throwing: CancellationError())
                }
            }
        }
        return try await waitInNode(cancellable: cancellable)
    }

    /// Waits in a node of the callback list (the slot is taken).
    @usableFromInline
    final func waitInNode(cancellable: Bool) async throws -> Value {
        let node = AwaitNode<Value>()
        guard register(node) else { return try outcomeWithoutRetrieving() }  // done meanwhile
        return try await node.wait(for: self, cancellable: cancellable)
    }

    /// Suspends in the slot this awaiter reserved (see `AwaiterWord` for who resumes).
    @inlinable
    final func suspendInSlot() async throws -> Value {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Value, any Error>) in
            awaiterContinuation = continuation
            switch AwaiterWord.publish(awaiterWord) {
            case AwaiterWord.reserved:
                return  // published: the completer or the canceller resumes it
            case AwaiterWord.done:
                continuation.resume(with: Result { try outcomeWithoutRetrieving() })
            default:  // cancelled before it was published
                AwaiterWord.release(awaiterWord)
                continuation.resume(throwing: CancellationError())
            }
        }
    }
}

/// A task waiting for a future whose own awaiter slot is taken: its own `AwaiterWord` (the
/// handle's state word, which nothing else uses for this kind) and continuation, in the
/// future's callback list. The completer resumes it directly; a cancel leaves it in the list,
/// done, until the future completes or goes away.
final class AwaitNode<Value: Sendable>: FutureNode, @unchecked Sendable {
    /// Written by the awaiter before its publish; read by whoever wins the word from WAITING.
    private var continuation: UnsafeContinuation<Value, any Error>?

    init() {
        super.init(kind: .signal, file: #fileID, line: #line)
        ml_store_relaxed(stateWord, AwaiterWord.reserved)  // before the push publishes the node
    }

    /// Waits until `future` (the one the node is registered with) completes; with
    /// `cancellable`, a cancel of the waiting task ends the wait at once with
    /// `CancellationError`.
    func wait(for future: Future<Value>, cancellable: Bool) async throws -> Value {
        guard cancellable else { return try await suspend(for: future) }
        return try await withTaskCancellationHandler {
            try await suspend(for: future)
        } onCancel: {
            if AwaiterWord.cancel(stateWord), let continuation = continuation.take() {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    private func suspend(for future: Future<Value>) async throws -> Value {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Value, any Error>) in
            self.continuation = continuation
            switch AwaiterWord.publish(stateWord) {
            case AwaiterWord.reserved:
                return
            case AwaiterWord.done:
                // The completer found RESERVED and left the outcome to us.
                self.continuation = nil
                continuation.resume(with: Result { try future.outcomeWithoutRetrieving() })
            default:
                self.continuation = nil
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    override func futureDidComplete(_ future: AnyObject) {
        if AwaiterWord.complete(stateWord), let continuation = continuation.take() {
            let future = unsafeDowncast(future, to: Future<Value>.self)
            continuation.resume(with: Result { try future.outcomeWithoutRetrieving() })
        }
    }
}
