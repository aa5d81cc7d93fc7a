import _MultiLoopEventLoop

/// Every way a stream operation can fail by itself, as a typed error: the reader never traps.
///
/// asyncio raises `IncompleteReadError`, `LimitOverrunError`, `RuntimeError`, `ValueError` and
/// `AssertionError` for these; each case names its asyncio counterpart. An error given to
/// `StreamReader.setException(_:)` is not wrapped in this enum: every later read rethrows it as
/// it is. The socket layer adds its connection errors here.
public enum StreamError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The end of the stream came before the read was complete: `partial` holds the bytes read
    /// (they are no longer in the reader), `expected` the number of bytes wanted, nil when it
    /// was not a count (`readUntil`). asyncio: `asyncio.IncompleteReadError(partial, expected)`.
    case incompleteRead(partial: [UInt8], expected: Int?)
    /// `readUntil` reached the reader's limit: the separator was not found in the first
    /// `limit` + its length bytes, or it was found after more than `limit` bytes. `consumed` is
    /// asyncio's: when the separator was not found, the number of bytes at the front that
    /// cannot start the separator and may be discarded (the buffered count + 1 - the longest
    /// separator's length); when it was found, the offset at which it starts. The data stays in
    /// the reader, to be read again. asyncio: `asyncio.LimitOverrunError(message, consumed)`.
    case limitOverrun(consumed: Int)
    /// `readLine()` found a line longer than the limit and discarded it: up to and including the
    /// newline when `separatorFound`; otherwise all the buffered bytes (the rest of that line
    /// will come first in later reads). asyncio: `ValueError` with `LimitOverrunError`'s message.
    case lineTooLong(separatorFound: Bool)
    /// A read started while another task was already waiting for data in this reader: the
    /// reader has one waiter. asyncio: `RuntimeError("read() called while another coroutine is
    /// already waiting for incoming data")`.
    case concurrentRead
    /// A reader created with a limit ≤ 0 (the limit given). asyncio: `ValueError("Limit cannot
    /// be <= 0")`.
    case invalidLimit(Int)
    /// `readUntil` with an empty separator, or `readUntil(anyOf:)` with no separator or an empty
    /// one. asyncio: `ValueError("Separator should be at least one-byte string")` and
    /// `ValueError("Separator should contain at least one element")`.
    case invalidSeparator
    /// `readExactly` with a negative count (the count given). asyncio: `ValueError("readexactly
    /// size can not be less than zero")`.
    case invalidSize(Int)
    /// `feedData` after `feedEOF`. asyncio: `AssertionError("feed_data after feed_eof")`.
    case feedAfterEOF
    /// `StreamReader(loop: nil)` on a thread with no running loop and no loop set with
    /// `setEventLoop`. asyncio: `RuntimeError("There is no current event loop")`.
    case noEventLoop
    /// The reader's loop is closed: a call that has to run on it (a read from another executor,
    /// a feed from another thread) cannot. asyncio: `RuntimeError("Event loop is closed")`.
    case loopClosed
    /// `StreamWriter.write` after `close()`. asyncio ignores such writes on a closing transport;
    /// MultiLoop says so.
    case writeAfterClose
    /// `StreamWriter.write` after `writeEOF()`. asyncio: `RuntimeError("Cannot call write() after
    /// write_eof()")`.
    case writeAfterEOF

    public var description: String {
        switch self {
        case .incompleteRead(let partial, let expected):
            return "\(partial.count) bytes read on a total of \(expected.map(String.init) ?? "undefined") expected bytes"
        case .limitOverrun(let consumed):
            return "the separator is not found within the limit, or the chunk before it is longer than the limit "
                + "(consumed: \(consumed))"
        case .lineTooLong(let separatorFound):
            return separatorFound ? "Separator is found, but chunk is longer than limit"
                : "Separator is not found, and chunk exceed the limit"
        case .concurrentRead:
            return "a read was called while another task is already waiting for incoming data"
        case .invalidLimit(let limit): return "limit cannot be <= 0, not \(limit)"
        case .invalidSeparator:
            return "a separator should be at least one byte, and there should be at least one separator"
        case .invalidSize(let size): return "readExactly size can not be less than zero, not \(size)"
        case .feedAfterEOF: return "feedData after feedEOF"
        case .noEventLoop: return "there is no running event loop and none set on this thread"
        case .loopClosed: return "the reader's event loop is closed"
        case .writeAfterClose: return "write() after close()"
        case .writeAfterEOF: return "write() after writeEOF()"
        }
    }
}
