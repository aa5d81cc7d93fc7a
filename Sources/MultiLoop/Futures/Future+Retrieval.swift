import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// "Future exception was never retrieved": a future (or task) that ends with an error nobody
/// reads is reported to its loop's exception handler, once. asyncio logs the same line from
/// `Future.__del__`; it is how a fire-and-forget task's failure surfaces.
///
/// ## What counts as retrieving
/// `result()`, `exception()`, `try await future.value` (and `task.value`) that ends with the
/// error, a blocking `wait(timeout:)`, `gather` (every child's error, as asyncio's `gather`
/// marks them), `waitFor`, `runUntilComplete`, and a done callback that calls `result()` or
/// `exception()`. Registering a done callback alone does not; neither does
/// `waitUntilDone()`, which waits without reading. A cancelled future is never reported.
///
/// ## When it is reported
/// Whichever comes first: the future is deallocated, or its loop closes while the future is
/// still alive (the loop keeps a weak list of its failed futures for that). Exactly once: the
/// claim word says whether it was retrieved or reported (below).
///
/// ## The claim word
/// `claimWord` (word 1 of the future) is 0 while pending and 1 once a completer claimed it
/// (`claimCompletion`, a CAS from 0). Retrieving stores 3 (relaxed): only after `isDone`, so
/// after the claim, and a later completer's CAS from 0 still fails. A report needs the word at 1
/// and moves it to 3 itself: the closing loop with a CAS (a reader may store 3 meanwhile: then
/// either the reader or the report came first, both fine), `deinit` with a plain load (it has
/// the object to itself).
extension Future {
    /// The claim word's value once the error was retrieved or reported.
    @inlinable
    static var claimRetrieved: ml_word_t { 3 }

    /// `result()` without marking an error retrieved: for the waits that hand the outcome to an
    /// awaiter, which marks it itself when the error ends its wait (`noteAwaited`). The `isDone`
    /// check is also the acquire load that makes the outcome visible.
    @inlinable
    final func outcomeWithoutRetrieving() throws -> Value {
        guard isDone else { throw InvalidStateError.resultNotReady }
        return try storedOutcome()
    }

    /// Marks the outcome's error retrieved. Any thread, after `isDone`.
    @inlinable
    final func markRetrieved() {
        ml_store_relaxed(claimWord, Self.claimRetrieved)
    }

    /// Whether an error outcome still waits to be retrieved (or reported). After `isDone`.
    final var errorNeverRetrieved: Bool {
        outcomeKind == .error && !wasCancelled && ml_load_relaxed(claimWord) != Self.claimRetrieved
    }

    /// An awaiter ended its wait with `error`: if that is the future's own error (not the
    /// awaiter's cancellation), it has been retrieved.
    @usableFromInline
    final func noteAwaited(_ error: any Error) {
        guard isDone, outcomeKind == .error else { return }
        if error is CancellationError, !(storedError is CancellationError) { return }
        markRetrieved()
    }

    /// The completer of an error (not a cancel): lets the loop report it at close if it is still
    /// unretrieved then. Out of line: errors are the slow path.
    @usableFromInline
    final func trackUnretrievedFailure() {
        loop.trackFailure(self)
    }

    /// Reports the error unless it was retrieved or reported. `atDeallocation`: from `deinit`,
    /// which has the object to itself; otherwise from the closing loop, racing readers.
    final func reportIfNeverRetrieved(atDeallocation: Bool) {
        guard outcomeKind == .error, !wasCancelled, let error = storedError else { return }
        if atDeallocation {
            guard ml_load_relaxed(claimWord) != Self.claimRetrieved else { return }
            markRetrieved()  // a task reports in its own deinit: its future part must not again
        } else {
            guard ml_fetch_cas_acq_rel(claimWord, 1, Self.claimRetrieved) == 1 else { return }
        }
        loop.callExceptionHandler(neverRetrievedContext(error))
    }
}

/// A future the loop may have to report at close (see `Future+Retrieval.swift`).
protocol UnretrievedFailure: AnyObject {
    /// Reports the error unless it was retrieved (or reported) already.
    func reportIfNeverRetrieved(atDeallocation: Bool)
    /// Whether it still has to be reported.
    var errorNeverRetrieved: Bool { get }
}

extension Future: UnretrievedFailure {}

/// A weak reference to a failed future: the list must not keep futures alive (their
/// deallocation is the other moment to report them).
struct WeakFailure {
    weak var future: (any UnretrievedFailure)?
}

extension EventLoop {
    /// Remembers a failed future for the report at close. Any thread; under `errorLock`. The
    /// list is pruned of futures gone or retrieved whenever it doubles, so it stays
    /// proportional to the failures still unretrieved.
    func trackFailure(_ future: any UnretrievedFailure) {
        guard !isClosed else { return }  // reported when deallocated
        let state = self.state  // not under `errorLock`: made under `lifecycleLock`
        errorLock.withLock {
            if state.failures.count >= state.failuresPruneAt {
                state.failures.removeAll { $0.future.map { !$0.errorNeverRetrieved } ?? true }
                state.failuresPruneAt = max(64, state.failures.count * 2)
            }
            state.failures.append(WeakFailure(future: future))
        }
    }

    /// Reports the failures still unretrieved; `close()` calls it after its last batch.
    func reportUnretrievedFailures() {
        let state = self.state
        let taken = errorLock.withLock {
            defer { state.failures = [] }
            return state.failures
        }
        for entry in taken {
            entry.future?.reportIfNeverRetrieved(atDeallocation: false)
        }
    }
}
