// One thread of the load generator: an epoll loop over its share of the connections.

import CEchoSystem
import Histogram

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Monotonic nanoseconds (CLOCK_MONOTONIC; a vDSO call, no system call).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// The phases of a run, as CLOCK_MONOTONIC ns: requests that complete in
/// `[measureStart, measureEnd)` are counted and their latencies recorded; the ones before are the
/// warm-up; at `measureEnd` every worker stops, and requests still in flight are dropped.
struct RunWindow: Sendable {
    var measureStart: UInt64
    var measureEnd: UInt64
}

/// Runs its connections on one thread until the window ends: level-triggered epoll, EPOLLIN
/// always, EPOLLOUT only while a write was cut short. One read per readable connection per
/// wake-up, into one scratch buffer.
///
/// Everything is touched by the worker's thread while `run()` runs, and read by the main thread
/// only after joining it.
final class EchoWorker: @unchecked Sendable {
    private let connections: [EchoConnection]
    private let window: RunWindow
    /// Round-trip latencies of the measured requests, in ns.
    private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 100_000_000_000, numberOfSignificantValueDigits: .three)
    /// Requests completed in the window, and their bytes (each counted once, as echoed).
    private(set) var requests = 0
    private(set) var bytes = 0
    /// Requests (at any time, warm-up included) whose reply did not match what was sent.
    private(set) var mismatches = 0
    /// Connections lost (closed by the server, an error, a reply longer than the request), and
    /// why the first one was.
    private(set) var lostConnections = 0
    private(set) var firstLoss: String?

    init(connections: [EchoConnection], window: RunWindow) {
        self.connections = connections
        self.window = window
    }

    func run() {
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: \(errno)")
        defer { close(epoll) }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { scratch.deallocate() }
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        var live = connections.count

        func watch(_ index: Int, operation: Int32, writable: Bool) {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue | (writable ? EPOLLOUT.rawValue : 0)
            event.data.u64 = UInt64(index)
            let rc = epoll_ctl(epoll, operation, connections[index].fd, &event)
            precondition(rc == 0, "epoll_ctl failed: \(errno)")
            connections[index].waitsForWritable = writable
        }
        func lose(_ index: Int, _ why: String) {
            epoll_ctl(epoll, EPOLL_CTL_DEL, connections[index].fd, nil)
            lostConnections += 1
            if firstLoss == nil { firstLoss = why }
            live -= 1
        }
        func start(_ index: Int, now: UInt64) {
            let connection = connections[index]
            guard connection.startRequest(now: now) else {
                return lose(index, "write: \(String(cString: strerror(errno)))")
            }
            if connection.hasUnsentBytes != connection.waitsForWritable {
                watch(index, operation: EPOLL_CTL_MOD, writable: connection.hasUnsentBytes)
            }
        }

        let now = monotonicNanoseconds()
        for index in connections.indices {
            watch(index, operation: EPOLL_CTL_ADD, writable: false)
            start(index, now: now)
        }
        while live > 0 {
            let now = monotonicNanoseconds()
            if now >= window.measureEnd { break }
            // Wake at least every 100 ms, and in time for the end of the window.
            let timeout = Int32(min(100, (window.measureEnd - now) / 1_000_000 + 1))
            let count = epoll_wait(epoll, events, Int32(capacity), timeout)
            if count < 0 {
                precondition(errno == EINTR, "epoll_wait failed: \(errno)")
                continue
            }
            for i in 0..<Int(count) {
                let index = Int(events[i].data.u64)
                let flags = events[i].events
                let connection = connections[index]
                if flags & EPOLLOUT.rawValue != 0 && connection.hasUnsentBytes {
                    guard connection.writeMore() else {
                        lose(index, "write: \(String(cString: strerror(errno)))")
                        continue
                    }
                    if !connection.hasUnsentBytes { watch(index, operation: EPOLL_CTL_MOD, writable: false) }
                }
                // EPOLLERR and EPOLLHUP come without being asked for; read() tells what they mean.
                guard flags & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 else { continue }
                switch connection.readAndCheck(scratch: scratch) {
                case .pending:
                    break
                case .completed(let matched):
                    let end = monotonicNanoseconds()
                    if !matched { mismatches += 1 }
                    if end >= window.measureStart && end < window.measureEnd {
                        requests += 1
                        bytes += connection.size
                        histogram.record(end - connection.startedAt)
                    }
                    start(index, now: end)
                case .lost(let why):
                    lose(index, why)
                }
            }
        }
    }
}
