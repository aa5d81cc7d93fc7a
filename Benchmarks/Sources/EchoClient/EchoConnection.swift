// One connection of the load generator: a closed loop of checked round trips.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A TCP connection that sends a message of `size` bytes, waits until all of them have come
/// back, checks them, and sends the next: one request in flight, always.
///
/// The bytes sent are a pseudo-random pattern seeded by the connection's number, shifted by one
/// byte per request (request k sends `pattern[k % patternShifts ..< k % patternShifts + size]`),
/// so a reply that carries another connection's bytes, or an earlier request's, does not compare
/// equal. Replies are compared as they arrive, chunk by chunk, against what was sent.
///
/// Protected by the thread of the `EchoWorker` that owns it: nothing here is shared.
final class EchoConnection {

    /// How many different shifts of the pattern requests cycle through (a prime, so the cycle
    /// does not line up with power-of-two sizes).
    static let patternShifts = 251

    let fd: Int32
    let size: Int
    /// `size + patternShifts` bytes.
    private let pattern: UnsafeMutableRawBufferPointer
    /// Requests started so far; the one in flight is `sequence - 1`.
    private var sequence = 0
    /// Bytes of the request in flight written so far, and echoed bytes read so far.
    private var sent = 0
    private var received = 0
    /// Whether a byte of the request in flight has not matched.
    private var mismatched = false
    /// CLOCK_MONOTONIC ns at which the request in flight was started.
    private(set) var startedAt: UInt64 = 0
    /// Whether the worker has asked epoll for EPOLLOUT on this connection (a write was cut short).
    var waitsForWritable = false

    /// `fd`: a connected non-blocking socket, closed with the connection.
    init(fd: Int32, index: Int, size: Int) {
        self.fd = fd
        self.size = size
        pattern = .allocate(byteCount: size + Self.patternShifts, alignment: 16)
        // xorshift64*, seeded by the connection's index: cheap, and different per connection.
        var state = 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1)
        for i in 0..<pattern.count {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            pattern[i] = UInt8(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 56)
        }
    }

    deinit {
        close(fd)
        pattern.deallocate()
    }

    /// The message of the request in flight.
    private var message: UnsafeRawPointer {
        UnsafeRawPointer(pattern.baseAddress! + (sequence - 1) % Self.patternShifts)
    }

    /// What a read brought.
    enum ReadResult {
        /// Part of the reply (or nothing yet): wait for more.
        case pending
        /// The last byte of the reply: whether every byte matched. The caller starts the next
        /// request.
        case completed(matched: Bool)
        /// The server closed the connection, an error occurred, or it sent more than it was sent.
        case lost(String)
    }

    /// Starts the next request at `now` (CLOCK_MONOTONIC ns): writes as much of it as the socket
    /// takes. Returns false when the connection failed.
    func startRequest(now: UInt64) -> Bool {
        sequence += 1
        sent = 0
        received = 0
        mismatched = false
        startedAt = now
        return writeMore()
    }

    /// Whether part of the request in flight is still unwritten.
    var hasUnsentBytes: Bool { sent < size }

    /// Writes what is left of the request, until done or the socket buffer is full.
    /// Returns false when the connection failed.
    func writeMore() -> Bool {
        while sent < size {
            let n = send(fd, message + sent, size - sent, Int32(MSG_NOSIGNAL))
            if n > 0 {
                sent += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return n < 0 && errno == EAGAIN
            }
        }
        return true
    }

    /// Reads once into `scratch` (level-triggered epoll brings the worker back for the rest) and
    /// compares the bytes with what was sent at the same place.
    func readAndCheck(scratch: UnsafeMutableRawBufferPointer) -> ReadResult {
        let n = read(fd, scratch.baseAddress, min(size - received, scratch.count))
        if n == 0 { return .lost("the server closed the connection") }
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return .pending }
            return .lost("read: \(String(cString: strerror(errno)))")
        }
        if received + n > sent { return .lost("the server sent bytes it had not been sent") }
        if memcmp(scratch.baseAddress!, message + received, n) != 0 { mismatched = true }
        received += n
        return received == size ? .completed(matched: !mismatched) : .pending
    }
}
