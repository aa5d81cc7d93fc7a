#if canImport(Glibc)
import _MultiLoopEventLoop
import _MultiLoopSystem
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMultiLoopSystem

/// A pool of event loops, each on its own pthread for its whole life: the multi-loop thread
/// pool MultiLoop is named for. SwiftNIO: `MultiThreadedEventLoopGroup`; tokio: a
/// multi-threaded `Runtime` (without its work stealing: here work stays on the loop it was
/// given to); asyncio has no equivalent (one loop per thread, threads made by hand).
///
/// - Threads. Loop `i` runs on a pthread named "ml-<name>-<i>" (Linux keeps 15 bytes; a long
///   group name is shortened, the index kept), so `top -H`, `ps -L` and debuggers show it. With
///   `pinToCores`, loop `i` is pinned to the `i`-th CPU of the creating thread's affinity mask
///   (round-robin when there are more loops than CPUs). On its thread each loop is the running
///   loop and the thread's loop: `getRunningLoop()` and `getEventLoop()` return it.
/// - Picking a loop: `next()` (round-robin), `any()` (the calling thread's own loop when it
///   belongs to the group), `loop(at:)`, or `loops`.
/// - Work: `submit` (a closure; a future of its result) and `submitTask` (an async function run
///   as a task of the loop; a future of its result), or any loop's own API.
/// - Lifecycle: the loops run from `init` until `syncShutdownGracefully()`, which loses nothing
///   that was accepted (see there). A group that is deallocated without it is shut down then.
///   A loop's `stop()` does not end its thread: the group runs it again.
///
/// All members are thread-safe.
public final class LoopGroup: @unchecked Sendable, CustomStringConvertible {
    /// The name in the threads' names.
    public let name: String
    /// The loops, by index.
    public let loops: [EventLoop]
    /// The CPU each loop's thread is pinned to, by index; nil when not pinned.
    public let pinnedCPUs: [Int]?

    let members: [LoopGroupMember]
    let threads: [PThread]
    let isShared: Bool
    private let indexByLoopID: [UInt64: Int]
    /// Word 0: the round-robin counter (relaxed fetch-and-add: only the spread matters). Word 1:
    /// 1 while the group accepts work through `submit`, set to 0 (release) by the shutdown; read
    /// with acquire. It is only the early refusal: what decides whether one piece of work was
    /// accepted is its loop's lane (see `syncShutdownGracefully`).
    private let words = CacheAlignedWords(lines: 1)
    /// `next()`'s round-robin counter (word 0).
    private var nextTicketWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 0, index: 0) }
    /// 1 while the group accepts work (word 1).
    private var acceptingWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 0, index: 1) }

    // Shutdown state, under `lifecycleLock`.
    let lifecycleLock = PThreadMutex()
    var lifecycle = Lifecycle.running

    enum Lifecycle {
        case running
        case shuttingDown
        case shutDown(LoopGroupShutdownReport)
    }

    /// Starts `loops` event loops (default: the number of CPUs this thread may run on, from its
    /// affinity mask), each on its own thread, and returns once every thread runs its loop.
    ///
    /// - Parameters:
    ///   - loops: how many loops; at least 1.
    ///   - name: the group's name in thread names (default "g<N>", N counting groups).
    ///   - pinToCores: pin loop `i` to the `i`-th usable CPU.
    ///   - spinBeforeSleep: each loop's `EventLoop(spinBeforeSleep:)`.
    /// - Throws: `LoopGroupError.invalidLoopCount`, `.affinityUnavailable`, `.pinningFailed`
    ///   (every thread started is stopped and joined first), `.loopCreationFailed`.
    public convenience init(loops: Int? = nil, name: String? = nil, pinToCores: Bool = false,
                            spinBeforeSleep: Duration = .microseconds(20)) throws(LoopGroupError) {
        try self.init(count: loops, name: name, pinToCores: pinToCores, spinBeforeSleep: spinBeforeSleep,
                      shared: false)
    }

    init(count: Int?, name: String?, pinToCores: Bool, spinBeforeSleep: Duration, shared: Bool) throws(LoopGroupError) {
        let cpus = try Self.usableCPUs()
        let count = count ?? cpus.count
        guard count >= 1 else { throw .invalidLoopCount(count) }
        let name = name ?? "g\(Int(ml_fetch_add_relaxed(groupCounter, 1)) + 1)"
        var loops: [EventLoop] = []
        do {
            for _ in 0..<count { loops.append(try EventLoop(spinBeforeSleep: spinBeforeSleep)) }
        } catch {
            throw .loopCreationFailed(error)
        }
        let pinned = pinToCores ? (0..<count).map { cpus[$0 % cpus.count] } : nil
        let members = loops.indices.map { LoopGroupMember(loop: loops[$0], index: $0) }
        let startup = LoopGroupStartup(count: count)
        self.name = name
        self.loops = loops
        self.pinnedCPUs = pinned
        self.members = members
        self.isShared = shared
        self.indexByLoopID = Dictionary(uniqueKeysWithValues: loops.enumerated().map { ($0.element.id, $0.offset) })
        self.threads = members.map { member in
            let cpu = pinned?[member.index]
            return PThread(name: Self.threadName(group: name, index: member.index)) {
                member.threadMain(pinTo: cpu, startup: startup)
            }
        }
        ml_store_release(acceptingWord, 1)
        if let failure = startup.waitForAll() {
            for member in members { member.requestShutdown(gracePeriod: 0) }
            for thread in threads { thread.join() }
            lifecycle = .shutDown(LoopGroupShutdownReport(loops: []))
            throw .pinningFailed(loop: failure.index, cpu: pinned?[failure.index] ?? -1, errno: failure.code)
        }
    }

    deinit {
        // Dropped without a shutdown: shut down now, losing nothing. From one of its own loop
        // threads (the last reference dropped there) it cannot wait: the loops are only told.
        guard case .running = lifecycle, !isShared else { return }
        if loops.contains(where: \.isOnLoopThread) {
            ml_store_release(acceptingWord, 0)
            for member in members { member.requestShutdown(gracePeriod: 10) }
        } else {
            _ = try? syncShutdownGracefully()
        }
    }

    /// The number of loops.
    public var count: Int { loops.count }

    /// The next loop in round-robin order. Any thread; lock-free.
    public func next() -> EventLoop {
        let ticket = UInt(ml_fetch_add_relaxed(nextTicketWord, 1))
        return loops[Int(ticket % UInt(loops.count))]
    }

    /// The loop running on the calling thread if it belongs to this group (no cross-thread hop
    /// for work that stays local), else `next()`.
    public func any() -> EventLoop {
        if let running = EventLoop.runningOnThisThread.value, let index = indexByLoopID[running.id] {
            return loops[index]
        }
        return next()
    }

    /// The loop at `index`.
    ///
    /// - Throws: `LoopGroupError.indexOutOfRange`.
    public func loop(at index: Int) throws(LoopGroupError) -> EventLoop {
        guard loops.indices.contains(index) else { throw .indexOutOfRange(index, count: loops.count) }
        return loops[index]
    }

    /// The index of `loop` in this group, or nil if it is not one of its loops.
    public func index(of loop: EventLoop) -> Int? {
        indexByLoopID[loop.id]
    }

    /// The kernel thread ids of the loops' threads, by index (what /proc/self/task lists).
    var threadIDs: [Int32] { members.map(\.threadID) }

    /// Whether `submit` and `submitTask` still accept work (false from the start of a shutdown).
    public var isAcceptingWork: Bool {
        ml_load_acquire(acceptingWord) == 1
    }

    /// Marks the group as refusing work; the shutdown's first step.
    func stopAcceptingWork() {
        ml_store_release(acceptingWord, 0)
    }

    public var description: String {
        "<LoopGroup \(name): \(loops.count) loop(s)\(pinnedCPUs.map { " pinned to CPUs \($0)" } ?? "")>"
    }

    /// "ml-<group>-<index>" within Linux's 15 bytes: the group name (ASCII letters, digits and
    /// `._-` only) is shortened, the index kept.
    static func threadName(group: String, index: Int) -> String {
        let suffix = "-\(index)"
        let allowed = group.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
        let room = max(0, 15 - 3 - suffix.utf8.count)
        return "ml-" + String(String.UnicodeScalarView(allowed.prefix(room))) + suffix
    }

    /// The CPUs in the calling thread's affinity mask.
    static func usableCPUs() throws(LoopGroupError) -> [Int] {
        var ids = [Int32](repeating: 0, count: 1024)
        let found = ml_usable_cpus(&ids, Int32(ids.count))
        guard found > 0 else { throw .affinityUnavailable(found < 0 ? errno : 0) }
        return ids.prefix(Int(found)).map(Int.init)
    }
}

/// Numbers the groups for their default names (relaxed fetch-and-add: only uniqueness matters).
private nonisolated(unsafe) let groupCounter: UnsafeMutablePointer<ml_word_t> = {
    let word = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 1)
    word.initialize(to: 0)
    return word
}()
