#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import MultiLoop

/// A connected pair of Unix stream sockets, both non-blocking; closed by `close()` (idempotent).
final class SocketPair: @unchecked Sendable {
    private(set) var first: Int32
    private(set) var second: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                                | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        guard rc == 0 else { throw EventLoopError.systemCallFailed("socketpair", errno) }
        first = fds[0]
        second = fds[1]
    }

    func closeFirst() { if first >= 0 { Glibc.close(first); first = -1 } }
    func closeSecond() { if second >= 0 { Glibc.close(second); second = -1 } }
    func close() { closeFirst(); closeSecond() }
    deinit { close() }
}

/// Writes all of `bytes` to a non-blocking fd that has room (test sizes are small). Returns the
/// count written.
@discardableResult
func writeBytes(_ fd: Int32, _ bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}

/// Reads what is there (up to `limit` bytes) from a non-blocking fd: nil on EAGAIN, [] at EOF.
func readAvailable(_ fd: Int32, limit: Int = 65536) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: limit)
    let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, limit) }
    if count < 0 { return nil }
    return Array(buffer[0..<count])
}

/// `run { body }` with the body bounded: past `seconds` it is cancelled and the test fails with
/// `TimeoutError`, instead of hanging until the suite's time limit when a socket never becomes
/// ready.
func runBounded(seconds: Double = 20, _ body: @escaping @Sendable () async throws -> Void) throws {
    try run { try await waitFor(seconds) { try await body() } }
}

/// The lowest open descriptor count of a few samples (other suites' descriptors come and go).
func quietDescriptorCount() -> Int {
    var lowest = Int.max
    for _ in 0..<5 {
        lowest = min(lowest, openFileDescriptorCount())
        usleep(10_000)
    }
    return lowest
}

/// The number of open file descriptors of this process.
func openFileDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while readdir(directory) != nil { count += 1 }
    return count - 3  // ".", ".." and the directory's own fd
}

/// The open descriptor count once it has come back to at most `limit`, or, if it never does
/// within `seconds`, the lowest count seen. Other suites open descriptors in parallel (one opens
/// 600 at once for a moment): a count taken once would blame them on the test. Their descriptors
/// come and go; a leak stays, so a leaking test still fails here, after `seconds`.
func settledDescriptorCount(atMost limit: Int, within seconds: Double = 10) -> Int {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    var lowest = Int.max
    while true {
        lowest = min(lowest, openFileDescriptorCount())
        if lowest <= limit || ContinuousClock.now >= deadline { return lowest }
        usleep(20_000)
    }
}

/// Whether `fd` is open (fcntl answers).
func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }
