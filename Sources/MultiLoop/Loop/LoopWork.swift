/// One piece of work handed to a loop: what travels through a producer's lane and what the
/// ready queue holds.
///
/// A `Handle` when the caller asked for one (`callSoon`, timers, done callbacks, stop requests);
/// a bare closure and where it was submitted for `execute`, which returns nothing and so needs
/// no object at all.
enum LoopWork {
    case handle(Handle)
    case closure(@Sendable () throws -> Void, CallbackLocation)
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

    var description: String {
        let bytes = UnsafeRawBufferPointer(start: fileStart, count: Int(fileLength))
        return "\(String(decoding: bytes, as: UTF8.self)):\(line)"
    }
}
