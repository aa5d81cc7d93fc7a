// The plain baseline: what one writes without a lock-free inbox. Each "loop" is a thread with a
// pthread mutex, an array and an eventfd; `send` locks, appends, unlocks and writes the eventfd
// on every call; the thread blocks in read() on the eventfd, swaps the array out under the
// mutex and runs it. There is no coalescing of wake-ups and no spinning.

import BenchSupport
import CBenchSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class BaselineSet: LoopSet {
    let loops: Slots<BaselineLoop>

    init(count: Int) throws {
        loops = Slots(try (0..<count).map { _ in try BaselineLoop() })
    }

    deinit { loops.free() }

    var count: Int { loops.count }

    @inline(__always)
    func send(to index: Int, _ body: @escaping @Sendable () -> Void) {
        loops[index].post(body)
    }

    func sender(to index: Int) -> Sender {
        let loop = loops[index]
        return { body in loop.post(body) }
    }

    func shutdown() throws {
        for index in 0..<loops.count { loops[index].stop() }
    }
}

final class BaselineLoop: @unchecked Sendable {
    private struct State {
        var items: [@Sendable () -> Void] = []
        var stopping = false
    }

    private let state = PThreadLocked(State())
    private let fd: Int32
    private var thread: JoinableThread?

    init() throws {
        fd = bench_eventfd()
        guard fd >= 0 else { throw SweepError.setUp("eventfd: errno \(errno)") }
        thread = JoinableThread { [self] in self.main() }
    }

    deinit {
        close(fd)
    }

    func post(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.items.append(body) }
        bench_eventfd_signal(fd)
    }

    func stop() {
        state.withLock { $0.stopping = true }
        bench_eventfd_signal(fd)
        thread?.join()
        thread = nil
    }

    private func main() {
        var batch: [@Sendable () -> Void] = []
        while true {
            bench_eventfd_wait(fd)
            let stop = state.withLock { state in
                swap(&batch, &state.items)
                return state.stopping
            }
            for body in batch { body() }
            batch.removeAll(keepingCapacity: true)
            if stop { return }
        }
    }
}
