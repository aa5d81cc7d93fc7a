#if canImport(Glibc)
import Glibc
#endif
import CMultiLoopSystem
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// The contents of a small text file, or nil.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The kernel thread ids of this process (/proc/self/task). Unreadable is a failure of the test
/// that asked: an empty list would make "this thread is gone" hold without looking.
func threadIDsOfThisProcess() -> [Int32] {
    guard let directory = opendir("/proc/self/task") else {
        Issue.record("cannot read /proc/self/task (errno \(errno))")
        return []
    }
    defer { closedir(directory) }
    var ids: [Int32] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if let id = Int32(name) { ids.append(id) }
    }
    return ids
}

/// The names of this process's threads (/proc/self/task/*/comm).
func threadNamesOfThisProcess() -> [String] {
    threadIDsOfThisProcess().compactMap { id in
        readSmallFile("/proc/self/task/\(id)/comm").map { String($0.filter { $0 != "\n" }) }
    }
}

/// The CPUs the calling thread may run on; failing to read them fails the test that asked.
func callingThreadCPUs() -> [Int] {
    do {
        return try LoopGroup.usableCPUs()
    } catch {
        Issue.record(error, "sched_getaffinity failed")
        return []
    }
}

/// Waits for a future that a job on Swift's global executor completes (a task whose loop has
/// closed continues there), from an async test: polling with `Task.sleep` gives the thread back
/// between checks. Blocking instead (`wait`) could hold the last free thread of the global pool,
/// which has only as many threads as cores, and other tests block some.
func pollUntilDone<Value>(_ future: Future<Value>) async throws -> Value {
    let deadline = ml_monotonic_ns() + Int64(FutureTesting.globalPoolSeconds * 1e9)
    while !future.isDone {
        if ml_monotonic_ns() > deadline {
            throw FutureTesting.DidNotHappen(what: "\(future) done", seconds: FutureTesting.globalPoolSeconds)
        }
        try await Task.sleep(for: .milliseconds(1))
    }
    return try future.result()
}
