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

/// The number of open file descriptors of this process.
func openFileDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while readdir(directory) != nil { count += 1 }
    return count - 3  // ".", ".." and the directory's own fd
}

/// Whether `fd` is open (fcntl answers).
func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }
