import Synchronization
import _MultiLoopSystem

/// A task waiting, once, for an fd to become ready: the watch that `waitUntilReady` registers.
///
/// Four parties may end the wait, on different threads, and exactly one resumes the task: the
/// loop when the fd is ready (`invoke`, loop thread), the task's cancellation handler (any
/// thread), the loop's close or `closeWatches` (`removedUnderneath`, the closing thread), and the
/// waiting task itself when cancellation came before it had installed its continuation.
///
/// ## The state word
/// Bits: `installed` (the continuation is stored and the watch registered), `cancelled`,
/// `claimed` (someone is resuming). Whoever sets `claimed` owns the resumption: it removes the
/// watch (unless the loop already did) and resumes the continuation once. Every transition is a
/// compare-and-exchange with acquiring-and-releasing ordering: the installer's write of
/// `continuation` happens before its `installed` is visible, and a claimer reads `continuation`
/// only after seeing `installed`, so it always finds it. `failure` is written by the claimer
/// before it resumes, and read by the task after it resumes (the resumption orders them).
final class ReadinessWaiter: ReadinessHandle, @unchecked Sendable {
    private static let installed = 1
    private static let cancelledFlag = 2
    private static let claimed = 4

    private let state = Atomic<Int>(0)
    private var continuation: UnsafeContinuation<Void, Never>?
    /// Why the wait ended, if not because the fd became ready.
    private(set) var failure: (any Error)?
    private unowned let loop: EventLoop

    init(loop: EventLoop, fd: Int32, interest: IOInterest) {
        self.loop = loop
        super.init(fd: fd, interest: interest, file: #fileID, line: #line)
    }

    /// Stores the continuation and registers the watch: the task's side, inside
    /// `withUnsafeContinuation`. If registration fails, or cancellation came first, it resumes
    /// the continuation itself (with `failure` set).
    func install(_ continuation: UnsafeContinuation<Void, Never>) {
        self.continuation = continuation
        do {
            try loop.ioWatchers.watch(self, replacing: false)
        } catch {
            failure = error
            continuation.resume()
            return
        }
        var current = state.load(ordering: .relaxed)
        while true {
            let cancelledFirst = current & Self.cancelledFlag != 0
            let next = current | Self.installed | (cancelledFirst ? Self.claimed : 0)
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged {
                if cancelledFirst { finish(with: CancellationError(), removeWatch: true) }
                return
            }
            current = original
        }
    }

    /// The fd is ready. Loop thread, from the iteration.
    override func invoke() throws {
        guard claim(from: Self.installed) else { return }
        _ = loop.ioWatchers.unwatch(fd: fd, interest: interest)
        if let continuation = continuation.take() { loop.resumeInline(continuation) }
    }

    /// The task was cancelled. Any thread.
    func cancelWait() { end(with: CancellationError(), flag: Self.cancelledFlag) }

    override func removedUnderneath(_ error: any Error) { end(with: error, flag: 0) }

    /// Sets `flag`, and claims the wait if the continuation is installed and nobody claimed it.
    private func end(with error: any Error, flag: Int) {
        var current = state.load(ordering: .relaxed)
        while current & Self.claimed == 0 {
            let canClaim = current & Self.installed != 0
            let next = current | flag | (canClaim ? Self.claimed : 0)
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged {
                if canClaim { finish(with: error, removeWatch: true) }
                return
            }
            current = original
        }
    }

    /// Claims a wait whose state is exactly `expected` (installed, not cancelled, not claimed).
    private func claim(from expected: Int) -> Bool {
        state.compareExchange(expected: expected, desired: expected | Self.claimed,
                              ordering: .acquiringAndReleasing).exchanged
    }

    private func finish(with error: any Error, removeWatch: Bool) {
        failure = error
        if removeWatch { _ = loop.ioWatchers.unwatch(fd: fd, interest: interest) }
        continuation.take()?.resume()
    }
}

extension EventLoop {
    /// Suspends the calling task until `fd` is readable (`forWriting: false`) or writable.
    /// Any task, on any executor; the task resumes on its own executor (at once, in the same
    /// iteration, when that is this loop).
    ///
    /// One wait per fd and direction at a time: it takes the fd's reader (writer) slot, so it
    /// refuses to start when that slot is taken (`.fileDescriptorBusy`) rather than silently
    /// replacing a callback or another task's wait, which would then never end.
    ///
    /// - Throws: `CancellationError` when the task is cancelled (the watch is removed; the fd is
    ///   untouched); `EventLoopError.closed` when the loop is closed, or closes during the wait;
    ///   what `closeWatches(of:failing:)` gives; the errors of `addReader`.
    package func waitUntilReady(_ fd: Int32, forWriting: Bool) async throws {
        let interest: IOInterest = forWriting ? .writable : .readable
        let waiter = ReadinessWaiter(loop: self, fd: fd, interest: interest)
        await withTaskCancellationHandler {
            await withUnsafeContinuation { waiter.install($0) }
        } onCancel: {
            waiter.cancelWait()
        }
        if let failure = waiter.failure { throw failure }
    }

    /// Removes the reader and writer of `fd`; a task waiting in `waitUntilReady` for it is resumed
    /// with `error`. Returns how many watches were removed. Any thread. For closing an fd
    /// through the loop: the kernel drops a closed fd from epoll without telling anyone, so a
    /// wait on it would otherwise never end.
    @discardableResult
    package func closeWatches(of fd: Int32, failing error: any Error) -> Int {
        ioWatchers.removeAll(fd: fd, failing: error)
    }
}
