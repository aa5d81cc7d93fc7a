import _MultiLoopInbox
import _MultiLoopSystem
import CMultiLoopSystem

/// How a sleeping loop is woken: an eventfd registered edge-triggered in an epoll instance (the
/// loop sleeps in that instance with the fds it watches, see `IOWatchers`).
///
/// The eventfd is never read. Each write is one edge, so each write returns one `epoll_wait`;
/// several writes before the wait merge into one return. Not reading saves a system call per
/// wake-up; the 64-bit counter cannot realistically saturate at one write per sleep (and a
/// saturated counter still leaves the fd readable).
///
/// Both descriptors stay open until the loop is deallocated, not merely closed: a producer that
/// replaced `SLEEPING` may write the eventfd after the loop has woken for another reason, run,
/// stopped and closed. Closing the fd earlier could let that late write land in a reused
/// descriptor number. Producers hold a reference to the loop while they push, so deinit cannot
/// overtake them.
struct EventLoopWaker: ~Copyable {
    let eventFD: Int32
    let epollFD: Int32

    init() throws(EventLoopError) {
        let eventFD = ml_eventfd_create()
        guard eventFD >= 0 else { throw .systemCallFailed("eventfd", errno) }
        let epollFD = ml_epoll_create()
        guard epollFD >= 0 else {
            let code = errno
            close(eventFD)
            throw .systemCallFailed("epoll_create1", code)
        }
        let rc = ml_epoll_add_edge_triggered(epollFD, eventFD)
        guard rc == 0 else {
            close(eventFD)
            close(epollFD)
            throw .systemCallFailed("epoll_ctl", rc)
        }
        self.eventFD = eventFD
        self.epollFD = epollFD
    }

    /// Wakes the loop. Any thread; called by the one producer that replaced `SLEEPING`.
    func wake() {
        let rc = _MultiLoopSystem.ml_eventfd_signal(eventFD)
        // EAGAIN (saturated counter) still leaves the fd readable; anything else is a bug.
        assert(rc == 0 || rc == EAGAIN, "eventfd write failed: \(rc)")
    }

    /// Blocks until a wake-up, the timeout (nanoseconds; -1 forever) or a signal, ignoring any
    /// watched fd. Any return is allowed to be spurious. (The loop itself sleeps in
    /// `sleepForReadiness`, which also collects ready fds; the inbox's tests sleep here.)
    func sleep(timeoutNanoseconds: Int64) {
        _ = _MultiLoopSystem.ml_epoll_wait_ns(epollFD, timeoutNanoseconds)
    }

    deinit {
        close(eventFD)
        close(epollFD)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
