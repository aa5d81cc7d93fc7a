import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// The protocol of one suspended awaiter of a future: a state word and, next to it, the
/// awaiter's continuation. It lives in the future itself for the first task that awaits it (no
/// allocation at all), or in an `AwaitNode` in the future's callback list for any other.
///
/// Three parties race: the awaiter, which stores its continuation and then publishes it; its
/// cancellation handler (any thread); and the future's completer (any thread). Exactly one of
/// them resumes the continuation, decided by CASes on this word:
///
///     EMPTY --reserve--> RESERVED --publish--> WAITING --complete--> DONE  (completer resumes)
///                            |                    `--cancel--> CANCELLED -> EMPTY (canceller resumes)
///                            |--cancel--> CANCELLED --publish fails--> EMPTY (awaiter throws)
///                            `--complete--> DONE --publish fails--> (awaiter takes the result)
///     (CANCELLED also goes to DONE on completion; DONE is never left.)
///
/// - `reserve` (the awaiter, before suspending): `EMPTY -> RESERVED`. Only the reserver moves
///   the word out of `RESERVED` with a publish; a cancel or a completion moves it elsewhere, and
///   the publish then fails and says why.
/// - `publish` (the awaiter, inside `withUnsafeThrowingContinuation`, after storing the
///   continuation): `RESERVED -> WAITING`, acq_rel: release so that whoever later wins the
///   word from `WAITING` reads the continuation stored before it; acquire so that an awaiter
///   that finds `DONE` sees the outcome the completer published before it.
/// - `cancel` (the cancellation handler): `RESERVED -> CANCELLED` (the awaiter's publish will
///   fail and throw) or `WAITING -> CANCELLED` (the canceller now owns the continuation: it
///   reads it, then `release`s the word back to `EMPTY` with a release CAS, and only then
///   may another awaiter reserve it and overwrite the continuation).
/// - `complete` (the completer, after the outcome is published): any state to `DONE`, which
///   is final. From `WAITING`, the completer owns the continuation and resumes it.
///
/// So a continuation is resumed exactly once, and never read after it was overwritten. The
/// word of a future's own slot goes back to `EMPTY` after a cancelled wait, so the next awaiter
/// can use it; an `AwaitNode`'s word never does (a node serves one wait).
@usableFromInline
enum AwaiterWord {
    @inlinable static var empty: ml_word_t { 0 }
    @inlinable static var reserved: ml_word_t { 1 }
    @inlinable static var waiting: ml_word_t { 2 }
    @inlinable static var cancelled: ml_word_t { 3 }
    @inlinable static var done: ml_word_t { 4 }

    /// `EMPTY -> RESERVED`; false if another awaiter holds the word or the future is done.
    /// Acquire: pairs with the release that emptied it after a cancelled wait (the continuation
    /// the canceller read is not overwritten before that read).
    @inlinable @inline(__always)
    static func reserve(_ word: UnsafeMutablePointer<ml_word_t>) -> Bool {
        ml_load_relaxed(word) == empty && ml_fetch_cas_acquire(word, empty, reserved) == empty
    }

    /// `RESERVED -> WAITING` after the continuation was stored; returns what the word held:
    /// `reserved` (published: the continuation is now the completer's or the canceller's),
    /// `done` (the future completed first: resume with its outcome yourself) or `cancelled`
    /// (the wait was cancelled first: `release` the word, then throw).
    @inlinable @inline(__always)
    static func publish(_ word: UnsafeMutablePointer<ml_word_t>) -> ml_word_t {
        ml_fetch_cas_acq_rel(word, reserved, waiting)
    }

    /// Cancels the wait; true when the caller took the continuation from `WAITING` (read it,
    /// `release` the word, then resume it with the cancellation).
    @inlinable @inline(__always)
    static func cancel(_ word: UnsafeMutablePointer<ml_word_t>) -> Bool {
        var old = ml_load_relaxed(word)
        while old == reserved || old == waiting {
            // Acquire (of the full CAS): from WAITING, the continuation stored before the
            // awaiter's publish is visible.
            let seen = ml_fetch_cas_acq_rel(word, old, cancelled)
            if seen == old { return old == waiting }
            old = seen
        }
        return false
    }

    /// Ends a cancelled wait: `CANCELLED -> EMPTY`, after the continuation was read, unless the
    /// future completed meanwhile (then the word stays `DONE`). Release: the next reserver's
    /// acquire sees that read done.
    @inlinable @inline(__always)
    static func release(_ word: UnsafeMutablePointer<ml_word_t>) {
        _ = ml_fetch_cas_release(word, cancelled, empty)
    }

    /// The future completed: the word becomes `DONE` for good. True when the caller took the
    /// continuation from `WAITING` and must resume it.
    @inlinable @inline(__always)
    static func complete(_ word: UnsafeMutablePointer<ml_word_t>) -> Bool {
        var old = ml_load_relaxed(word)
        while true {
            // Full: acquire for the continuation published with WAITING; release for the
            // outcome, so that an awaiter whose publish fails on DONE sees it.
            let seen = ml_fetch_cas_acq_rel(word, old, done)
            if seen == old { return old == waiting }
            old = seen
        }
    }
}
