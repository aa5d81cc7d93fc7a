/// One piece of work handed to a loop: what travels through a producer's lane and what the
/// ready queue holds.
///
/// A `Handle` when the caller asked for one (`callSoon`, timers, done callbacks, stop requests);
/// a bare closure and where it was submitted for `execute`, which returns nothing and so needs
/// no object at all; a job when the loop serves as a Swift executor. Exactly one of `handle`,
/// `body` and `job` is set. A struct of optionals rather
/// than an enum, so that the loop can move either part out (`take()`) without copying it: a copy
/// of a closure retains its context, whose reference count the producer's core also writes.
struct LoopWork: @unchecked Sendable {
    var handle: Handle?
    var body: (@Sendable () throws -> Void)?
    var location: CallbackLocation
    /// A Swift concurrency job (the loop as an executor): runs with `runSynchronously`.
    var job: UnownedJob?

    /// A handle carries its own location; `location` is not read for it.
    static func handle(_ handle: Handle) -> LoopWork {
        LoopWork(handle: handle, body: nil, location: CallbackLocation(), job: nil)
    }

    static func closure(_ body: consuming @escaping @Sendable () throws -> Void,
                        _ location: CallbackLocation) -> LoopWork {
        LoopWork(handle: nil, body: body, location: location, job: nil)
    }

    static func job(_ job: UnownedJob) -> LoopWork {
        LoopWork(handle: nil, body: nil, location: CallbackLocation(), job: job)
    }

    /// Whether this is a timer (which goes into the heap, not the ready queue).
    var isTimer: Bool { handle?.kind == .timer }
}

/// Where a callback was scheduled (`#fileID:#line`), packed into two words.
///
/// `fileStart` points into a static string literal, which lives as long as the program.
struct CallbackLocation: @unchecked Sendable, CustomStringConvertible {
    private let fileStart: UnsafeRawPointer
    private let line: UInt32
    private let fileLength: UInt16

    init(file: StaticString, line: UInt) {
        if file.hasPointerRepresentation {
            fileStart = UnsafeRawPointer(file.utf8Start)
            fileLength = UInt16(clamping: file.utf8CodeUnitCount)
        } else {
            fileStart = UnsafeRawPointer(Self.unknownFile.utf8Start)
            fileLength = 1
        }
        self.line = UInt32(truncatingIfNeeded: line)
    }
    private static let unknownFile: StaticString = "?"

    /// "?:0", without touching anything: for work whose location lives elsewhere (a handle).
    init() {
        fileStart = UnsafeRawPointer(bitPattern: 1)!
        fileLength = 0
        line = 0
    }

    var description: String {
        guard fileLength > 0 else { return "?:\(line)" }
        let bytes = UnsafeRawBufferPointer(start: fileStart, count: Int(fileLength))
        return "\(String(decoding: bytes, as: UTF8.self)):\(line)"
    }
}
