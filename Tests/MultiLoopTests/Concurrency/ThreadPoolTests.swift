import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `ThreadPool` on its own: threads started as jobs need them, jobs withdrawn while queued,
/// shutdown with and without waiting. Every blocking wait runs on a thread the test starts
/// (`offThePool`) or on the pool's own workers, and is bounded; the observations come back to
/// the test's task, which checks them.
@Suite("ThreadPool: lazy threads, withdrawal, shutdown", .timeLimit(.minutes(5)))
struct ThreadPoolTests {
    typealias Gate = FutureTesting.Event

    // CPython Lib/test/test_concurrent_futures/test_thread_pool.py: test_idle_thread_reuse
    // (three jobs in turn on a pool of many threads use one thread). Here the next job is
    // submitted once the worker is back waiting, so that the count is exact, not a race.
    @Test("a pool starts no thread before its first job, and one worker serves jobs submitted in turn")
    func idleWorkerIsReused() async {
        let observed = await offThePool { () -> (before: Int, after: Int, ran: [Int], allDone: Bool) in
            let pool = ThreadPool(threads: 8, name: "t-reuse")
            defer { pool.shutdown() }
            let before = pool.startedThreads
            let ran = Locked<[Int]>([])
            var allDone = true
            for index in 0..<3 {
                let done = Gate()
                let accepted = (try? pool.enqueue {
                    ran.withLock { $0.append(index) }
                    done.signal()
                }) != nil
                allDone = allDone && accepted && done.wait() && FutureTesting.poll { pool.idleThreads == 1 }
            }
            return (before, pool.startedThreads, ran.value, allDone)
        }
        #expect(observed.allDone, "each job ran and its worker went back to waiting")
        #expect(observed.before == 0)
        #expect(observed.after == 1)
        #expect(observed.ran == [0, 1, 2])
    }

    // CPython Lib/test/test_concurrent_futures/test_thread_pool.py: test_saturation (15 jobs per
    // worker that all block: exactly max_workers threads, then all of them run).
    @Test("jobs that all block start exactly threadCount workers; released, every one of them runs")
    func saturation() async {
        let observed = await offThePool { () -> (started: Int, ran: Int, live: Int, accepted: Bool) in
            let pool = ThreadPool(threads: 4, name: "t-saturate")
            let gate = Gate()
            let ran = Locked(0)
            var accepted = true
            for _ in 0..<(15 * pool.threadCount) {
                accepted = accepted && (try? pool.enqueue {
                    if gate.wait() { ran.withLock { $0 += 1 } }
                }) != nil
            }
            let started = pool.startedThreads
            gate.signal()
            pool.shutdown()
            return (started, ran.value, pool.liveThreads, accepted)
        }
        #expect(observed.accepted)
        #expect(observed.started == 4)
        #expect(observed.ran == 60)
        #expect(observed.live == 0, "shutdown() returned after every worker ended")
    }

    // CPython Lib/concurrent/futures/_base.py Future.cancel (a pending future is cancelled and
    // never runs; a running one cannot be) and thread.py _WorkItem.run
    // (set_running_or_notify_cancel), seen from the pool: a withdrawn job never runs, and its
    // closure (with whatever it captured) is released at once.
    @Test("a queued job withdrawn never runs and its closure is released at once; a running one cannot be withdrawn")
    func withdrawal() async {
        struct Observed { var withdrewQueued = false, withdrewAgain = true, withdrewRunning = true
                          var releasedAtWithdrawal = false, queuedAfter = -1, order: [String] = [], ok = false }
        let observed = await offThePool { () -> Observed in
            let pool = ThreadPool(threads: 1, name: "t-withdraw")
            defer { pool.shutdown() }
            var observed = Observed()
            let order = Locked<[String]>([])
            let started = Gate()
            let gate = Gate()
            let released = Locked(false)
            guard let first = try? pool.enqueue({
                order.withLock { $0.append("first") }
                started.signal()
                _ = gate.wait()
            }), started.wait() else { return observed }
            let queued: ThreadPoolJob? = {
                let tracker = DeinitTracker { released.withLock { $0 = true } }
                return try? pool.enqueue { withExtendedLifetime(tracker) { order.withLock { $0.append("withdrawn job") } } }
            }()
            guard let queued else { return observed }
            observed.withdrewQueued = pool.withdraw(queued)
            observed.releasedAtWithdrawal = released.value
            observed.withdrewAgain = pool.withdraw(queued)
            observed.withdrewRunning = pool.withdraw(first)
            observed.queuedAfter = pool.queuedJobs
            gate.signal()
            let last = Gate()
            observed.ok = (try? pool.enqueue { order.withLock { $0.append("last") }; last.signal() }) != nil && last.wait()
            observed.order = order.value
            return observed
        }
        #expect(observed.ok)
        #expect(observed.withdrewQueued)
        #expect(observed.releasedAtWithdrawal, "the withdrawn closure's captures were released by withdraw itself")
        #expect(!observed.withdrewAgain)
        #expect(!observed.withdrewRunning)
        #expect(observed.queuedAfter == 0)
        #expect(observed.order == ["first", "last"])
    }

    // CPython Lib/test/test_concurrent_futures/test_shutdown.py: ThreadPoolShutdownTest
    // test_shutdown_no_wait (returns while work is still running; the queued work still runs)
    // and ExecutorShutdownTest test_run_after_shutdown (a submission after shutdown raises).
    @Test("shutdown(wait: false) returns while a job blocks and refuses new work; what was queued still runs; a later shutdown() waits for it")
    func shutdownWithoutWaiting() async {
        let observed = await offThePool { () -> (order: [String], refusal: ThreadPoolError?, liveAfter: Int, ok: Bool) in
            let pool = ThreadPool(threads: 1, name: "t-nowait")
            let order = Locked<[String]>([])
            let started = Gate()
            let gate = Gate()
            var ok = (try? pool.enqueue {
                order.withLock { $0.append("A") }
                started.signal()
                _ = gate.wait()
            }) != nil
            ok = ok && (try? pool.enqueue { order.withLock { $0.append("B") } }) != nil
            ok = ok && (try? pool.enqueue { order.withLock { $0.append("C") } }) != nil
            ok = ok && started.wait()
            pool.shutdown(wait: false)
            order.withLock { $0.append("shutdown(wait: false) returned") }
            var refusal: ThreadPoolError?
            do throws(ThreadPoolError) { _ = try pool.enqueue { order.withLock { $0.append("D") } } } catch { refusal = error }
            gate.signal()
            pool.shutdown()
            return (order.value, refusal, pool.liveThreads, ok)
        }
        #expect(observed.ok)
        #expect(observed.order == ["A", "shutdown(wait: false) returned", "B", "C"])
        #expect(observed.refusal == .shutDown)
        #expect(observed.liveAfter == 0)
    }

    // No CPython counterpart: Python's shutdown(wait=True) from a worker raises RuntimeError
    // ("cannot join current thread"). Here it refuses new work and lets the workers go, and a
    // shutdown() from outside waits for them.
    @Test("shutdown() from one of the pool's own workers returns without joining itself")
    func shutdownFromAWorker() async {
        let observed = await offThePool { () -> (returned: Bool, liveAfter: Int, refused: Bool) in
            let pool = ThreadPool(threads: 2, name: "t-self")
            let returned = Gate()
            guard (try? pool.enqueue { pool.shutdown(); returned.signal() }) != nil else { return (false, -1, false) }
            let didReturn = returned.wait()
            pool.shutdown()
            let refused = (try? pool.enqueue {}) == nil
            return (didReturn, pool.liveThreads, refused)
        }
        #expect(observed.returned)
        #expect(observed.liveAfter == 0)
        #expect(observed.refused)
    }

    // No CPython counterpart (Python has no shared pool); as LoopGroup.shared, it cannot be shut
    // down, so that a loop that uses it as its default executor cannot break it for the others.
    @Test("ThreadPool.shared ignores shutdown and keeps taking work")
    func sharedPoolCannotBeShutDown() async {
        let ran = await offThePool { () -> Bool in
            ThreadPool.shared.shutdown(wait: false)
            ThreadPool.shared.shutdown()
            let done = Gate()
            guard (try? ThreadPool.shared.enqueue { done.signal() }) != nil else { return false }
            return done.wait()
        }
        #expect(ran)
        #expect(ThreadPool.shared.threadCount == ThreadPool.defaultThreadCount)
    }
}

/// Calls `onDeinit` when it goes away: shows when a closure that captured it was released.
final class DeinitTracker: Sendable {
    private let onDeinit: @Sendable () -> Void
    init(_ onDeinit: @escaping @Sendable () -> Void) { self.onDeinit = onDeinit }
    deinit { onDeinit() }
}
