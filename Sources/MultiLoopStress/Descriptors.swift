#if canImport(Glibc)
import Glibc
#endif
import MultiLoop

/// The process's file descriptors, as /proc/self/fd lists them: what the sockets scenario counts
/// before and after it runs, and how it tells that a socket it saw is still open.
enum Descriptors {
    /// The descriptors open now (not counting the one that lists them).
    static func open() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var found: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name), fd != own { found.append(fd) }
        }
        return found
    }

    /// How many descriptors are open now.
    static var count: Int { open().count }

    /// What `fd` is ("socket:[1234]", a path, "anon_inode:[eventfd]"); nil if it is not open.
    static func describe(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard length >= 0 else { return nil }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The inode of the socket open as `fd`; nil when `fd` is not open or not a socket.
    static func socketInode(_ fd: Int32) -> UInt64? {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return UInt64(status.st_ino)
    }

    /// Whether the socket `record` names is still open: its fd is a socket with the same inode.
    static func isOpen(_ record: SocketsChecker.SocketRecord) -> Bool { socketInode(record.fd) == record.inode }

    /// The listening sockets bound to `address` (a server's listener, found by its address: the
    /// server does not hand out its fds).
    static func listeners(on address: SocketAddress) -> [SocketsChecker.SocketRecord] {
        open().compactMap { fd in
            guard let inode = socketInode(fd) else { return nil }
            var listening: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0, listening != 0,
                  (try? Socket.localAddress(fd)) == address else { return nil }
            return SocketsChecker.SocketRecord(fd: fd, inode: inode, what: "listener on \(address)")
        }
    }
}
