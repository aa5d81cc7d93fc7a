#if canImport(Glibc)
import _MultiLoopInbox
import _MultiLoopSystem
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The lanes of one producer thread: one `InboxLane` per loop it has submitted to.
///
/// Only its thread touches it: it lives in manually allocated memory reached through a pthread
/// key, so finding it is one `pthread_getspecific` and no reference count is touched on the hot
/// path (a lane's header line is also read by its loop; a retain per push would bounce it). The
/// table keeps a +1 reference on each lane it holds, taken when the lane is added and given
/// back when it is removed or when the thread exits.
///
/// The last loop used is cached, so a producer that keeps feeding one loop finds its lane with
/// one comparison. Loops are keyed by `EventLoop.id`, never reused, so a lane can never be
/// mistaken for the lane of a later loop at the same address; the table holds no reference to
/// any loop.
///
/// When the thread exits, the key's destructor abandons every lane: each loop drops its lane
/// once it has run what is in it. Lanes of closed (or deallocated) loops are forgotten when a
/// push finds them closed, and pruned whenever a new lane is added.
struct ProducerLanes {
    typealias Lane = InboxLane<LoopWork>

    private var lastLoopID: UInt64 = 0  // loop ids start at 1
    private var lastLane: Unmanaged<Lane>?
    private var entries: [(loopID: UInt64, lane: Unmanaged<Lane>)] = []

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let destructor: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
            ProducerLanes.abandonAndFree(raw)
        }
        let rc = pthread_key_create(&key, destructor)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    /// The thread's exit: abandons every lane of the table at `raw` and frees it.
    private static func abandonAndFree(_ raw: UnsafeMutableRawPointer?) {
        guard let table = raw?.assumingMemoryBound(to: ProducerLanes.self) else { return }
        table.pointee.abandonAll()
        table.deinitialize(count: 1)
        table.deallocate()
    }

    /// Does now, on the calling thread, what its exit would do: abandons its lanes and frees its
    /// table (a later submission starts a new one). For the interleaving checker, whose threads
    /// must take their last protocol steps while it still controls them.
    static func abandonCurrentThreadLanes() {
        guard let raw = pthread_getspecific(key) else { return }
        pthread_setspecific(key, nil)
        abandonAndFree(raw)
    }

    /// The calling thread's table (created on first use; freed when the thread exits).
    @inline(__always)
    static var current: UnsafeMutablePointer<ProducerLanes> {
        if let raw = pthread_getspecific(key) { return raw.assumingMemoryBound(to: ProducerLanes.self) }
        let table = UnsafeMutablePointer<ProducerLanes>.allocate(capacity: 1)
        table.initialize(to: ProducerLanes())
        pthread_setspecific(key, table)
        return table
    }

    /// This thread's lane into `loop`, registering a new one with the loop if needed. The table
    /// keeps the lane alive; the caller must not use it after `forget`.
    ///
    /// - Throws: `EventLoopError.closed` when the loop refuses the registration (it is closed).
    @inline(__always)
    mutating func lane(into loop: EventLoop) throws(EventLoopError) -> Unmanaged<Lane> {
        if lastLoopID == loop.id, let lastLane { return lastLane }
        return try findOrRegister(loop)
    }

    private mutating func findOrRegister(_ loop: EventLoop) throws(EventLoopError) -> Unmanaged<Lane> {
        if let entry = entries.first(where: { $0.loopID == loop.id }) {
            remember(loop.id, entry.lane)
            return entry.lane
        }
        prune()
        let lane = Lane()
        lane.releaseReturned = Lane.releaseHandles
        try loop.register(lane)
        let unmanaged = Unmanaged.passRetained(lane)
        entries.append((loop.id, unmanaged))
        remember(loop.id, unmanaged)
        return unmanaged
    }

    private mutating func remember(_ loopID: UInt64, _ lane: Unmanaged<Lane>) {
        lastLoopID = loopID
        lastLane = lane
    }

    /// Drops the lanes whose loop has closed them.
    private mutating func prune() {
        entries.removeAll { entry in
            guard entry.lane._withUnsafeGuaranteedRef({ $0.isClosed }) else { return false }
            if lastLoopID == entry.loopID { lastLoopID = 0; lastLane = nil }
            entry.lane.release()
            return true
        }
    }

    /// Drops the lane into the loop with `loopID` (after a push found it closed).
    mutating func forget(_ loopID: UInt64) {
        entries.removeAll { entry in
            guard entry.loopID == loopID else { return false }
            entry.lane.release()
            return true
        }
        if lastLoopID == loopID {
            lastLoopID = 0
            lastLane = nil
        }
    }

    /// How many lanes the table holds (for tests).
    var count: Int { entries.count }

    /// The thread is exiting: tell every loop, and give the lanes back.
    private mutating func abandonAll() {
        for entry in entries {
            entry.lane._withUnsafeGuaranteedRef { $0.abandon() }
            entry.lane.release()
        }
        entries.removeAll()
        lastLoopID = 0
        lastLane = nil
    }
}
