import _MultiLoopSystem
import CMultiLoopSystem

/// The per-loop state of the layers above the loop: a loop's tasks, its failed futures, its
/// default executor (MultiLoop's `LoopState`). The loop holds one such object, made by the first
/// caller that needs it, and tells it when the loop has closed; it knows nothing else of it.
/// This is how the loop stays below the concurrency bridge: it runs jobs and callbacks and never
/// names a task or a future.
///
/// One conforming type per process (the layer above has one); `attachment(orMake:)` relies on
/// it.
@usableFromInline
package protocol EventLoopAttachment: AnyObject, Sendable {
    /// Called once by `close()`, on the closing thread, once the loop is closed: every accepted
    /// callback has run, the timers are cancelled, `isClosed` is true and scheduling throws
    /// `.closed`.
    func loopDidClose(_ loop: EventLoop)
}

extension EventLoop {
    /// The attachment's word: 0 until the attachment exists, then its address (unretained:
    /// `attached` holds it for the loop's lifetime).
    @usableFromInline
    package var attachmentWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 3, index: 0) }

    /// The loop's attachment, made with `make` by the first caller. Any thread.
    ///
    /// After the first call it is one acquire load: the release store of `attach` pairs with it,
    /// so the attachment's initial state is visible to every thread that finds the word set.
    @inlinable @inline(__always)
    package func attachment<A: EventLoopAttachment>(orMake make: () -> A) -> A {
        let bits = ml_load_acquire(attachmentWord)
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(bits)) else { return attach(make) }
        return Unmanaged<A>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// The first call: under `lifecycleLock`, so that two threads make one attachment and
    /// `close()` sees it (it reads `attached` under the same lock).
    @usableFromInline
    package func attach<A: EventLoopAttachment>(_ make: () -> A) -> A {
        lifecycleLock.withLock {
            if let existing = attached {
                guard let typed = existing as? A else {
                    preconditionFailure("a loop has one attachment type; found \(type(of: existing)), asked for \(A.self)")
                }
                return typed
            }
            let made = make()
            attached = made
            ml_store_release(attachmentWord, ml_word_t(bitPattern: UInt(bitPattern: Unmanaged.passUnretained(made).toOpaque())))
            return made
        }
    }

    /// The attachment if one was made (`close()`).
    var existingAttachment: (any EventLoopAttachment)? {
        lifecycleLock.withLock { attached }
    }
}
