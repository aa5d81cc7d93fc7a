import _MultiLoopInbox
import _MultiLoopSystem

/// One piece of work handed to a loop: what travels through a producer's lane and what the
/// ready queue holds. 32 bytes.
///
/// - a `Handle` when the caller asked for one (`callSoon`, timers, done callbacks, stops);
/// - a bare closure and where it was submitted, for `execute`, which returns nothing and so
///   needs no object at all;
/// - a job, when the loop serves as a Swift executor;
/// - a suspended loop task to resume, for `sleep(0)` (the task's continuation: no job object).
///
/// A struct of optionals rather than an enum, so that the loop can move a part out (`take()`)
/// without copying it: a copy of a closure retains its context, whose reference count the
/// producer's core also writes. `word` holds the closure's location, or the job; it is read
/// only when `handle` and `body` say which.
struct LoopWork: @unchecked Sendable {
    var handle: Handle?
    var body: (@Sendable () throws -> Void)?
    private var word: UInt

    static func handle(_ handle: Handle) -> LoopWork {
        LoopWork(handle: handle, body: nil, word: 0)
    }

    static func closure(_ body: consuming @escaping @Sendable () throws -> Void,
                        _ location: CallbackLocation) -> LoopWork {
        LoopWork(handle: nil, body: body, word: location.bits)
    }

    static func job(_ job: UnownedJob) -> LoopWork {
        LoopWork(handle: nil, body: nil, word: unsafeBitCast(job, to: UInt.self))
    }

    /// A continuation travels tagged with the low bit, which a job's address never has (both
    /// are pointers to word-aligned runtime objects).
    package static func resume(_ continuation: UnsafeContinuation<Void, Never>) -> LoopWork {
        LoopWork(handle: nil, body: nil, word: unsafeBitCast(continuation, to: UInt.self) | 1)
    }

    /// Where a closure was submitted (meaningful for `closure` work only).
    var location: CallbackLocation { CallbackLocation(bits: word) }

    /// The job, for `job` work (neither a handle nor a closure).
    var job: UnownedJob? {
        guard handle == nil && body == nil && word != 0 && word & 1 == 0 else { return nil }
        return unsafeBitCast(word, to: UnownedJob.self)
    }

    /// The continuation, for `resume` work.
    var continuation: UnsafeContinuation<Void, Never>? {
        guard handle == nil && body == nil && word & 1 == 1 else { return nil }
        return unsafeBitCast(word & ~1, to: UnsafeContinuation<Void, Never>.self)
    }

    /// Whether this is a timer (which goes into the heap, not the ready queue).
    var isTimer: Bool { handle?.kind == .timer }
}

/// Where a callback was scheduled (`#fileID:#line`), in one word: the address of the file
/// name's string literal in the low 48 bits (user-space addresses on Linux fit), the line in
/// the high 16 (clamped to 65535).
///
/// String literals are NUL-terminated and live as long as the program, so the name is read
/// back with `strlen` when a report needs it.
@usableFromInline
package struct CallbackLocation: Sendable, CustomStringConvertible {
    fileprivate let bits: UInt

    private static let addressBits: UInt = 48
    private static let addressMask: UInt = (1 << addressBits) - 1

    @usableFromInline
    package init(file: StaticString, line: UInt) {
        let address = file.hasPointerRepresentation ? UInt(bitPattern: file.utf8Start) : 0
        let known = address != 0 && address & ~Self.addressMask == 0
        bits = (known ? address : 0) | (min(line, 0xFFFF) << Self.addressBits)
    }

    fileprivate init(bits: UInt) {
        self.bits = bits
    }

    @usableFromInline
    package var description: String {
        let line = bits >> Self.addressBits
        guard let file = UnsafePointer<CChar>(bitPattern: bits & Self.addressMask) else { return "?:\(line)" }
        return "\(String(cString: file)):\(line)"
    }
}
