import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// What a future completed with; the value itself is in the future's words (see below).
@usableFromInline
enum OutcomeKind: UInt8 {
    case pending
    /// The value is in the future's three value words.
    case inlineValue
    /// The value is in a heap cell whose address is the first value word (a value larger than
    /// three words, or more aligned).
    case heapValue
    /// `storedError` holds the error (a `CancelledError` when cancelled).
    case error
}

/// The outcome's storage. A future keeps its value in three words of its own (after the four
/// atomic words), rather than in a `Result<Value, any Error>?` property: a generic class's
/// `deinit` and `init` are never specialized, and with such a property each of them looked up
/// the metadata of `Result<Value, any Error>` and of its `Optional` in the runtime's cache,
/// about a tenth of a task's creation and await (measured with callgrind). With the value in
/// raw words, `deinit` needs only `Value`'s own metadata, which the object's type carries.
/// Values of up to three words (integers, strings, arrays, class references, most small
/// structs) cost nothing more; larger ones one allocation.
///
/// Threads: written once by the completer (after it won the claim, before the callback list is
/// closed), read after `isDone`, destroyed by `deinit`.
extension Future {
    @inlinable
    static var storesValueInline: Bool {
        MemoryLayout<Value>.size <= 3 * MemoryLayout<ml_word_t>.size
            && MemoryLayout<Value>.alignment <= MemoryLayout<ml_word_t>.alignment
    }

    @inlinable
    final var valueStorage: UnsafeMutableRawPointer { UnsafeMutableRawPointer(firstStoredWord(of: self) + 4) }

    /// Stores the outcome. The completer only, once.
    @inlinable
    final func storeOutcome(_ result: Result<Value, any Error>, cancelled: Bool) {
        switch result {
        case .success(let value):
            if Self.storesValueInline {
                valueStorage.initializeMemory(as: Value.self, repeating: value, count: 1)
                outcomeKind = .inlineValue
            } else {
                let cell = UnsafeMutablePointer<Value>.allocate(capacity: 1)
                cell.initialize(to: value)
                valueStorage.storeBytes(of: UInt(bitPattern: cell), as: UInt.self)
                outcomeKind = .heapValue
            }
        case .failure(let error):
            storedError = error
            outcomeKind = .error
        }
        wasCancelled = cancelled
    }

    /// The value, or the error thrown. Only once `isDone`.
    @inlinable
    final func storedOutcome() throws -> Value {
        switch outcomeKind {
        case .inlineValue:
            return valueStorage.assumingMemoryBound(to: Value.self).pointee
        case .heapValue:
            return UnsafeMutablePointer<Value>(bitPattern: valueStorage.load(as: UInt.self))!.pointee
        case .error:
            throw storedError ?? InvalidStateError.resultNotReady
        case .pending:
            throw InvalidStateError.resultNotReady
        }
    }

    /// Destroys the value (`deinit`).
    final func destroyOutcome() {
        switch outcomeKind {
        case .inlineValue:
            valueStorage.assumingMemoryBound(to: Value.self).deinitialize(count: 1)
        case .heapValue:
            let cell = UnsafeMutablePointer<Value>(bitPattern: valueStorage.load(as: UInt.self))!
            cell.deinitialize(count: 1)
            cell.deallocate()
        case .error, .pending:
            break
        }
    }
}
