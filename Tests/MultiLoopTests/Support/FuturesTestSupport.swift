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

/// Helpers for the Futures and Registry suites. Nested in one namespace so that they cannot
/// clash with the helpers of other suites; each suite aliases what it uses.
///
/// The synchronization here is plain pthread (mutex + condition variable), independent of the
/// library, so that a test of `Future.wait` does not depend on `Future.wait` to finish.
enum FutureTesting {
    /// The bound on every wait a test makes for something that must happen. It is a safety
    /// net against a hang, never a measurement: only a broken library ever reaches it.
    static let generousSeconds = 30.0

    /// The bound on a wait for a job of Swift's global executor (a task whose loop closed goes
    /// on there). The suite queues hundreds of tests on that pool, which has only as many threads
    /// as cores: under ThreadSanitizer on 2 cores a job waited over 30 s behind them (the run
    /// reported its 550 tests done only 45 s in).
    /// Where it can, a test that waits this long first checks, at once, that the job was handed
    /// over (so that a broken library fails in milliseconds, not minutes).
    static let globalPoolSeconds = 240.0

    /// An error to complete futures with.
    struct Boom: Error, Equatable {
        var code: Int = 0
    }

    /// Thrown by the helpers when something that must happen did not within its bound.
    struct DidNotHappen: Error, CustomStringConvertible {
        var what: String
        var seconds = FutureTesting.generousSeconds
        var description: String { "did not happen within \(seconds) s: \(what)" }
    }

    /// Polls `condition` on a plain thread, napping 100 µs between looks, for up to `seconds` of
    /// the clock; whether it came to hold. A safety net against a hang, never a measurement.
    static func poll(for seconds: Double = generousSeconds, _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)  // a clock, not a count of naps
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            usleep(100)
        }
        return true
    }

    /// In a task running on a loop: sleeps 1 ms between looks until `condition` holds; throws
    /// `DidNotHappen` after `generousSeconds`.
    static func eventually(_ what: String = "a condition of the test", _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(generousSeconds)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw DidNotHappen(what: what) }
            try await EventLoop.sleep(0.001)
        }
    }

    /// A one-shot event: `signal()` (any number of times, from any thread) releases every
    /// present and future `wait`.
    final class Event: @unchecked Sendable {
        private var mutex = pthread_mutex_t()
        private var condition = pthread_cond_t()
        private var signalled = false  // guarded by `mutex`

        init() {
            pthread_mutex_init(&mutex, nil)
            var attributes = pthread_condattr_t()
            pthread_condattr_init(&attributes)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
            pthread_cond_init(&condition, &attributes)
            pthread_condattr_destroy(&attributes)
        }

        deinit {
            pthread_cond_destroy(&condition)
            pthread_mutex_destroy(&mutex)
        }

        func signal() {
            pthread_mutex_lock(&mutex)
            signalled = true
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }

        var isSignalled: Bool {
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            return signalled
        }

        /// Waits until signalled; false if `seconds` passed first.
        func wait(seconds: Double = FutureTesting.generousSeconds) -> Bool {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let whole = Int(seconds)
            var deadline = timespec(tv_sec: now.tv_sec + whole,
                                    tv_nsec: now.tv_nsec + Int((seconds - Double(whole)) * 1e9))
            if deadline.tv_nsec >= 1_000_000_000 {
                deadline.tv_sec += 1
                deadline.tv_nsec -= 1_000_000_000
            }
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            while !signalled {
                if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { return signalled }
            }
            return true
        }

        /// Waits until signalled, or throws `DidNotHappen`.
        func require(_ what: String) throws {
            guard wait() else { throw DidNotHappen(what: what) }
        }
    }

    /// A start line for `parties` threads: each calls `arriveAndWait()`, and all of them leave
    /// together once the last one arrives (to make them race as closely as possible).
    final class StartLine: @unchecked Sendable {
        private let parties: Int
        private let arrived = Locked(0)
        private let go = Event()

        init(parties: Int) { self.parties = parties }

        func arriveAndWait() {
            let count = arrived.withLock { count -> Int in
                count += 1
                return count
            }
            if count == parties { go.signal() }
            _ = go.wait()
        }
    }

    /// An event loop running `runForever()` on a thread of its own until `shutDown()`.
    final class LoopThread: @unchecked Sendable {
        let loop: EventLoop
        private let thread: JoinableThread
        private let shutDownOnce = Locked<EventLoopCloseReport?>(nil)

        init() throws {
            let loop = try EventLoop()
            self.loop = loop
            thread = JoinableThread { try! loop.runForever() }
        }

        /// Runs `body` as a callback of the loop and returns what it returned (or rethrows).
        /// Blocks the caller (not a loop thread) until the callback has run.
        @discardableResult
        func sync<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
            let outcome = Locked<Result<T, any Error>?>(nil)
            let done = Event()
            try loop.callSoon {
                let result = Result { try body() }
                outcome.withLock { $0 = result }
                done.signal()
            }
            try done.require("a callback on the loop thread")
            return try outcome.value!.get()
        }

        /// Blocks until every callback scheduled on the loop before this call, by any thread,
        /// has run (see `settle`).
        func drain() throws {
            try settle(loop)
        }

        /// Stops the loop, joins its thread and closes the loop. Idempotent.
        @discardableResult
        func shutDown() -> EventLoopCloseReport {
            shutDownOnce.withLock { report in
                if let report { return report }
                loop.stop()
                thread.join()
                #expect(!loop.isRunning, "the loop thread returned, so the loop must have stopped")
                let closed = (try? loop.close()) ?? EventLoopCloseReport()
                report = closed
                return closed
            }
        }
    }

    /// Arms a watchdog on a loop that a test runs on its own thread with `runUntilComplete` or
    /// `runForever`: a timer that stops the loop after `generousSeconds`. Should the library fail
    /// to end the run when it must, the test then fails (stoppedBeforeFutureCompleted, or a
    /// missing result) instead of hanging. A test that passes never reaches it; `close()`
    /// cancels it.
    static func armWatchdog(_ loop: EventLoop) throws {
        try loop.callLater(generousSeconds) { loop.stop() }
    }

    /// Runs `body` on a new thread (which has no running loop and no set loop), joins it, and
    /// returns its outcome. The body clears the thread's set loop when it is done.
    static func onNewThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> Result<T, any Error> {
        let outcome = Locked<Result<T, any Error>?>(nil)
        let thread = JoinableThread {
            let result = Result { try body() }
            setEventLoop(nil)
            outcome.withLock { $0 = result }
        }
        thread.join()
        return outcome.value!
    }

    /// Where some code runs: the loop running on its thread, and, for each of a list of loops,
    /// whether that loop considers the thread its own.
    struct Place: Sendable, Equatable, CustomStringConvertible {
        var runningLoop: ObjectIdentifier?
        var onLoopThread: [Bool]

        /// Where the calling code runs.
        static func here(among loops: [EventLoop]) -> Place {
            Place(runningLoop: (try? getRunningLoop()).map(ObjectIdentifier.init),
                  onLoopThread: loops.map(\.isOnLoopThread))
        }

        /// The place of a callback run by `loops[index]`.
        static func loopThread(_ index: Int, of loops: [EventLoop]) -> Place {
            Place(runningLoop: ObjectIdentifier(loops[index]), onLoopThread: loops.indices.map { $0 == index })
        }

        var description: String {
            "running loop: \(runningLoop.map { "\($0)" } ?? "none"), on loop thread: \(onLoopThread)"
        }
    }
}
