import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// A suspended task that two parties race to resume: the event it waits for (a done callback, a
/// timer) and its cancellation handler. Exactly one of them gets the continuation, under the
/// lock; the loser finds nil. Any thread.
///
/// `Token` is whatever the cancellation must undo (a done-callback registration, a timer), kept
/// here once it exists: a cancel that comes first makes `keep` return false, and the caller then
/// undoes it itself.
final class OneShotResumer<Value: Sendable, Token>: @unchecked Sendable {
    // MUST stay the first stored property: the spin lock's word (see `firstStoredWord`). A spin
    // lock, not a pthread mutex: every critical section is a few stores, and a mutex would cost
    // two allocations per suspension.
    private var _lockWord: ml_word_t = 0
    private var lock: SpinLock { SpinLock(word: firstStoredWord(of: self)) }
    private var continuation: UnsafeContinuation<Value, any Error>?
    private var token: Token?
    private var cancelled = false
    /// The continuation was taken to be resumed: the token is no longer needed.
    private var taken = false

    /// Stores the continuation; false if the task was cancelled before it suspended.
    func install(_ continuation: UnsafeContinuation<Value, any Error>) -> Bool {
        lock.withLock {
            guard !cancelled else { return false }
            self.continuation = continuation
            return true
        }
    }

    /// Keeps what a cancel must undo; false if a cancel already happened (undo it yourself).
    /// Not kept once the continuation was taken: there is nothing left to undo.
    func keep(_ token: Token) -> Bool {
        lock.withLock {
            guard !cancelled else { return false }
            if !taken { self.token = token }
            return true
        }
    }

    /// The continuation, once: for whoever resumes it. Drops the token too: the token usually
    /// leads back here (a done callback's or a timer's closure captures this resumer), and
    /// keeping it after the wait is over would be a reference cycle, a leak per suspension.
    func takeContinuation() -> UnsafeContinuation<Value, any Error>? {
        lock.withLock {
            defer {
                continuation = nil
                token = nil
                taken = true
            }
            return continuation
        }
    }

    /// Marks the wait cancelled; returns the continuation (unless already taken) and the token.
    func cancel() -> (UnsafeContinuation<Value, any Error>?, Token?) {
        lock.withLock {
            cancelled = true
            defer { continuation = nil; token = nil }
            return (continuation, token)
        }
    }
}
