#if canImport(Glibc)
import Glibc
#endif
import MultiLoop

/// A fresh folder under /tmp (for Unix sockets), removed with what is in it by `remove()`.
struct TemporaryFolder {
    let path: String

    init(prefix: String) throws {
        var template = Array("/tmp/\(prefix)XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SocketError.system("mkdtemp", errno)
        }
        path = String(cString: made)
    }

    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}
