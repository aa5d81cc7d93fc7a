import Testing
import CMultiLoopSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem
import MultiLoopTestSupport

/// Where the loop thread waits while a signal holds it: [0] is 1 while it is parked, [1] lets it
/// go. C atomics only, which is all a signal handler may use here.
private nonisolated(unsafe) let parking: UnsafeMutablePointer<ml_word_t> = {
    let words = UnsafeMutablePointer<ml_word_t>.allocate(capacity: 2)
    words.initialize(repeating: 0, count: 2)
    return words
}()

/// SIGUSR1's handler: parks the interrupted thread until the test lets it go. The shim's own
/// functions, named with their module: not the library's debug-build versions, which call the
/// interleaving checker's hook.
private let park: @convention(c) (Int32) -> Void = { _ in
    let words = parking
    CMultiLoopSystem.ml_store_release(words, 1)
    while CMultiLoopSystem.ml_load_acquire(words + 1) == 0 { CMultiLoopSystem.ml_cpu_relax() }
    CMultiLoopSystem.ml_store_relaxed(words + 1, 0)
    CMultiLoopSystem.ml_store_release(words, 0)
}

/// B's payload: counts whether it ran, or was destroyed without running (lost).
private final class Token: @unchecked Sendable {
    private let lost: StressCounter
    var ran = false  // loop thread only
    init(lost: StressCounter) { self.lost = lost }
    deinit { if !ran { lost.add() } }
}

@Suite("Abandoned lanes", .timeLimit(.minutes(5)))
struct AbandonedLaneTests {
    /// The race of `drainLanes`: the loop drains a lane and finds it empty; its producer then
    /// pushes one last item and abandons the lane (its thread exits); the loop sees the abandon.
    /// It may drop the lane only after a final look finds it still empty, or the last item is
    /// lost. The window is a few instructions wide, so the test makes it wide: a signal stops the
    /// loop thread wherever it is, and while it is stopped every one of many lanes gets its last
    /// item and its abandon. The loop is kept busy (a callback that reschedules itself), so it
    /// spends most of its time in `drainLanes`, over those lanes: a good share of the signals
    /// land between a lane's drain and its abandon check. Without the final check, some last
    /// items are lost in every run (and the test fails on the count); with it, none is.
    ///
    /// Under ThreadSanitizer a signal is delivered at the next intercepted call (a mutex in the
    /// busy callback), never inside `drainLanes`: the test then only checks that nothing is lost.
    @Test("a producer's last push before it abandons its lane runs, wherever the loop was interrupted")
    func lastPushBeforeAbandonIsNeverLost() async throws {
        let problems = await offThePool { Self.interruptDrains(trials: 150, lanesPerTrial: 64) }
        #expect(problems.isEmpty, "\(problems)")
    }

    /// Returns what went wrong (nothing when all is well).
    private static func interruptDrains(trials: Int, lanesPerTrial: Int) -> [String] {
        var problems: [String] = []
        let loop: EventLoop
        do { loop = try EventLoop(spinBeforeSleep: .zero) } catch { return ["no loop: \(error)"] }
        _ = parking  // initialized before the handler can run
        var action = sigaction()
        action.__sigaction_handler.sa_handler = park
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var previous = sigaction()
        guard sigaction(SIGUSR1, &action, &previous) == 0 else { return ["sigaction failed: \(errno)"] }
        defer {
            // Ignore a signal still pending (never the default action, which ends the process).
            var ignore = sigaction()
            ignore.__sigaction_handler.sa_handler = SIG_IGN
            sigemptyset(&ignore.sa_mask)
            _ = sigaction(SIGUSR1, &ignore, nil)
        }

        // The loop, kept busy: a callback that reschedules itself (through a mutex, which lets
        // ThreadSanitizer deliver the signal), until `stopping`.
        let stopping = StressFlag()
        let beat = Locked(0)
        let loopThread = Locked<pthread_t?>(nil)
        @Sendable func busy() {
            beat.withLock { $0 += 1 }
            if stopping.isSet { loop.stop() } else { _ = try? loop.callSoon { busy() } }
        }
        let thread = JoinableThread {
            // Threads inherit their creator's mask, and the threads of Swift's pool block signals.
            var usr1 = sigset_t()
            sigemptyset(&usr1)
            sigaddset(&usr1, SIGUSR1)
            pthread_sigmask(SIG_UNBLOCK, &usr1, nil)
            loopThread.withLock { $0 = pthread_self() }
            try! loop.callSoon { busy() }
            try! loop.runForever()
        }
        defer {
            stopping.set()
            thread.join()
            _ = try? loop.close()
        }
        guard waitUntil(seconds: 5, { loopThread.value != nil && beat.value > 0 }) else {
            return ["the loop did not start"]
        }
        let target = loopThread.value!

        let firstRan = StressCounter()
        let lastRan = StressCounter()
        let lost = StressCounter()
        var expected = 0
        for trial in 0..<trials {
            // New lanes, registered like a producer's first submission, each with a first item
            // the loop takes (so that each lane is in the loop's list, empty, when it stops).
            var lanes: [InboxLane<LoopWork>] = []
            for _ in 0..<lanesPerTrial {
                let lane = InboxLane<LoopWork>()
                do { try loop.register(lane) } catch { return ["registration refused: \(error)"] }
                _ = lane.push(.closure({ firstRan.add() }, CallbackLocation(file: #fileID, line: #line)))
                if loop.inbox.claimWakeUp() { loop.wakeUp() }
                lanes.append(lane)
            }
            expected += lanesPerTrial
            guard waitUntil(seconds: 5, { firstRan.value == expected }) else {
                return ["trial \(trial): \(expected - firstRan.value) first item(s) never ran"]
            }
            // Everything the stopped window needs, made before it: the loop thread may be stopped
            // inside the allocator, holding its lock, so the window allocates nothing (not even
            // an iterator: unspecialized generic code in a debug build allocates coroutine
            // frames). Raw buffers, read through addressors; each item is moved into its lane.
            let laneBuffer = UnsafeMutablePointer<Unmanaged<InboxLane<LoopWork>>>.allocate(capacity: lanesPerTrial)
            let workBuffer = UnsafeMutablePointer<LoopWork>.allocate(capacity: lanesPerTrial)
            for index in 0..<lanesPerTrial {
                (laneBuffer + index).initialize(to: .passUnretained(lanes[index]))
                let token = Token(lost: lost)
                (workBuffer + index).initialize(
                    to: .closure({ token.ran = true; lastRan.add() }, CallbackLocation(file: #fileID, line: #line)))
            }
            defer {
                laneBuffer.deallocate()
                workBuffer.deallocate()
            }
            CMultiLoopSystem.ml_store_relaxed(parking + 1, 0)
            pthread_kill(target, SIGUSR1)
            let parked = waitUntil(seconds: 5) { CMultiLoopSystem.ml_load_acquire(parking) == 1 }
            // Stopped (or, if the signal is late, not): push the last item and abandon, lane by lane.
            var index = 0
            while index < lanesPerTrial {
                laneBuffer[index]._withUnsafeGuaranteedRef { lane in
                    _ = lane.push((workBuffer + index).move())
                    if loop.inbox.claimWakeUp() { loop.wakeUp() }
                    lane.abandon()
                }
                index += 1
            }
            CMultiLoopSystem.ml_store_release(parking + 1, 1)
            if !parked {
                problems.append("trial \(trial): the signal did not stop the loop thread within 5 s")
                break
            }
            guard waitUntil(seconds: 5, { CMultiLoopSystem.ml_load_acquire(parking) == 0 }) else {
                return problems + ["trial \(trial): the loop thread did not leave the signal handler"]
            }
        }
        // Every last item runs, or is destroyed unrun with its dropped lane (lost).
        let total = expected
        let settled = waitUntil(seconds: 5) { lastRan.value + lost.value == total }
        if lost.value > 0 {
            problems.append("\(lost.value) of \(total) last items were lost with their abandoned lanes")
        }
        if !settled {
            problems.append("after 5 s, \(total - lastRan.value - lost.value) last items neither ran nor were lost")
        }
        return problems
    }

    /// Polls `condition` (yielding the CPU) for up to `seconds`. Allocates nothing.
    private static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = CMultiLoopSystem.ml_monotonic_ns() + Int64(seconds * 1e9)
        while !condition() {
            if CMultiLoopSystem.ml_monotonic_ns() > deadline { return false }
            sched_yield()
        }
        return true
    }
}
