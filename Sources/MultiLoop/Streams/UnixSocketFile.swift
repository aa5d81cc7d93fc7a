#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The file a Unix server's listening socket made at its path, known by device and inode. The
/// server removes the file when it closes, but only while the path still names this file:
/// another socket may have replaced it since (asyncio compares the inode too). An abstract name
/// (a leading NUL byte) has no file.
struct UnixSocketFile {
    let path: String
    private let device: UInt64
    private let inode: UInt64

    /// The file at `address`'s path now; nil for an IP address, an abstract name, or no file.
    init?(_ address: SocketAddress) {
        guard case .unix(let path) = address, let (device, inode) = Self.identity(of: path) else { return nil }
        self.path = path
        self.device = device
        self.inode = inode
    }

    /// Removes the file, if the path still names it.
    func removeIfUnchanged() {
        guard let (device, inode) = Self.identity(of: path), device == self.device, inode == self.inode else { return }
        unlink(path)
    }

    private static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        guard path.utf8.first != 0 else { return nil }
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return (UInt64(status.st_dev), UInt64(status.st_ino))
    }
}
