// CMultiLoopSystem: the system surface MultiLoop needs, and nothing else.
//
// - Atomics on one machine word, over libatomic_ops (Debian: libatomic-ops-dev). Only the
//   header-only, MIT-licensed primitives are used (AO_load/AO_store/CAS/fetch-and-add/nop);
//   never the GPL parts (AO_stack, AO_malloc). With clang, libatomic_ops implements these with
//   the compiler's __atomic builtins, so ThreadSanitizer sees every one of them.
// - eventfd, epoll (with a nanosecond timeout where the kernel has epoll_pwait2).
// - pthread name and CPU affinity.
//
// Every wrapper is `static inline` so that Swift inlines it: a push onto the inbox is one
// lock-prefixed instruction, not a call.
#ifndef C_MULTILOOP_SYSTEM_H
#define C_MULTILOOP_SYSTEM_H

#include <atomic_ops.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if !defined(AO_HAVE_fetch_compare_and_swap_release) || !defined(AO_HAVE_fetch_compare_and_swap_acquire) \
    || !defined(AO_HAVE_fetch_compare_and_swap_full) || !defined(AO_HAVE_load_acquire) \
    || !defined(AO_HAVE_store_release) || !defined(AO_HAVE_fetch_and_add)
#error "libatomic_ops does not provide the word-sized primitives MultiLoop needs on this target"
#endif

typedef AO_t ml_word_t;

// MARK: - Atomics on one word
//
// Naming: the suffix says the ordering each wrapper gives, in the C++ model's words:
//   _relaxed (AO_load / AO_store / plain AO_fetch_and_add): std::memory_order_relaxed
//   _acquire: std::memory_order_acquire      _release: std::memory_order_release
//   _acq_rel: std::memory_order_acq_rel, which is what libatomic_ops' "_full" read-modify-writes
//             are with gcc/clang atomics (not seq_cst: see ml_fence_after_rmw)
//   ml_fence_full: a seq_cst fence (AO_nop_full), the one truly full barrier
// The caller chooses the variant and documents why next to the call.

/// Relaxed load: atomic, no ordering. For statistics read from any thread.
static inline ml_word_t ml_load_relaxed(const volatile ml_word_t *p) { return AO_load(p); }

/// Acquire load (std::memory_order_acquire): later reads see everything the thread that
/// published the value wrote before its release.
static inline ml_word_t ml_load_acquire(const volatile ml_word_t *p) { return AO_load_acquire(p); }

/// Relaxed store: atomic, no ordering. For counters that only one thread writes.
static inline void ml_store_relaxed(volatile ml_word_t *p, ml_word_t v) { AO_store(p, v); }

/// Release store (std::memory_order_release): publishes every earlier write of this thread.
static inline void ml_store_release(volatile ml_word_t *p, ml_word_t v) { AO_store_release(p, v); }

/// Compare-and-swap with release ordering on success (std::memory_order_release): publishes the
/// caller's earlier writes (a node's fields) to whoever later acquires the word. Returns the
/// value seen; the swap happened iff the result equals `expected`.
static inline ml_word_t ml_fetch_cas_release(volatile ml_word_t *p, ml_word_t expected, ml_word_t desired) {
    return AO_fetch_compare_and_swap_release(p, expected, desired);
}

/// Compare-and-swap with acquire ordering (std::memory_order_acquire): the caller then reads
/// what the writers that released the old value wrote. Returns the value seen.
static inline ml_word_t ml_fetch_cas_acquire(volatile ml_word_t *p, ml_word_t expected, ml_word_t desired) {
    return AO_fetch_compare_and_swap_acquire(p, expected, desired);
}

/// Compare-and-swap with acquire-release ordering (libatomic_ops' `_full` variant, which with
/// gcc/clang atomics (libatomic_ops 7.6) is an acq_rel compare-exchange,
/// std::memory_order_acq_rel): for transitions that both publish and consume (closing a word
/// that others pushed to). Returns the value seen. Not seq_cst: where a later load of another word must not pass it (a Dekker pair), follow it
/// with `ml_fence_after_rmw()`. On x86 it is a `lock cmpxchg`, a full barrier in hardware.
static inline ml_word_t ml_fetch_cas_acq_rel(volatile ml_word_t *p, ml_word_t expected, ml_word_t desired) {
    return AO_fetch_compare_and_swap_full(p, expected, desired);
}

/// Fetch-and-add with no ordering (std::memory_order_relaxed): counters.
static inline ml_word_t ml_fetch_add_relaxed(volatile ml_word_t *p, ml_word_t delta) {
    return AO_fetch_and_add(p, delta);
}

/// Fetch-and-add with acquire-release ordering (`AO_fetch_and_add_full`, which with compiler
/// atomics is std::memory_order_acq_rel): a countdown whose last decrement must see what every earlier
/// one published (a gather's count of unfinished tasks). `lock xadd` on x86.
static inline ml_word_t ml_fetch_add_acq_rel(volatile ml_word_t *p, ml_word_t delta) {
    return AO_fetch_and_add_full(p, delta);
}

/// A full memory fence (std::atomic_thread_fence(std::memory_order_seq_cst)).
static inline void ml_fence_full(void) { AO_nop_full(); }

/// Orders a read-modify-write before the loads that follow it in the same thread, as a
/// seq_cst fence would. The lane protocol's two Dekker pairs need it (a producer's publishing
/// CAS, then its load of the wake word; the loop's CAS to SLEEPING, then its loads of the lane
/// counts): with gcc/clang atomics, libatomic_ops' `_full` CAS is an acq_rel compare-exchange,
/// and C11 lets both sides of such a pair miss each other's write. On x86 a `lock`-prefixed
/// instruction is already a full barrier (Intel SDM vol. 3, 8.2.2), so only the compiler is
/// stopped; elsewhere this is `AO_nop_full()`.
static inline void ml_fence_after_rmw(void) {
#if defined(__x86_64__) || defined(__i386__)
    AO_compiler_barrier();
#else
    AO_nop_full();
#endif
}

/// A hint for a spin-wait loop (x86 `pause`, arm64 `yield`): lets a sibling hyperthread run and
/// avoids the memory-order mis-speculation penalty when the awaited line changes. No ordering.
static inline void ml_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Gives the CPU to another runnable thread, if there is one (`sched_yield`); returns at once
/// otherwise. For a spinning loop that may share its CPU with the thread it is waiting for.
static inline void ml_yield_cpu(void) {
    sched_yield();
}

// MARK: - Clock

/// CLOCK_MONOTONIC in nanoseconds.
static inline int64_t ml_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

// MARK: - Threads

/// pthread_self() as a word (never 0 for a live thread).
static inline ml_word_t ml_thread_self(void) { return (ml_word_t)pthread_self(); }

/// The kernel thread id (what /proc/self/task lists).
int ml_gettid(void);

/// Names the calling thread (Linux keeps at most 15 bytes). Returns 0 or an errno.
int ml_thread_set_name(const char *name);

/// Pins the calling thread to one CPU. Returns 0 or an errno.
int ml_thread_pin_to_cpu(int cpu);

/// The number of CPUs in the calling thread's affinity mask, or -1 with errno set.
int ml_usable_cpu_count(void);

/// Writes the ids of the CPUs in the calling thread's affinity mask, lowest first, into `out`
/// (at most `capacity`); returns how many, or -1 with errno set.
int ml_usable_cpus(int *out, int capacity);

// MARK: - eventfd and epoll

/// A non-blocking, close-on-exec eventfd, or -1 with errno set.
static inline int ml_eventfd_create(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// Adds 1 to the eventfd's counter. Returns 0, or an errno (EINTR is retried here; EAGAIN means
/// the counter is saturated, which still leaves the fd readable, so the wake-up is not lost).
static inline int ml_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof(one));
        if (n == (ssize_t)sizeof(one)) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? errno : EIO;
    }
}

static inline int ml_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

/// The token of the loop's own eventfd in its epoll instance; a watched fd's token is the fd.
#define ML_EPOLL_WAKER_TOKEN UINT64_MAX

/// Registers `fd` for input, edge-triggered, with the waker's token. Returns 0 or an errno.
static inline int ml_epoll_add_edge_triggered(int epfd, int fd) {
    struct epoll_event ev;
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = ML_EPOLL_WAKER_TOKEN;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

/// The readiness bits a watched fd reports (epoll's values).
enum {
    ML_IO_READABLE = EPOLLIN,
    ML_IO_WRITABLE = EPOLLOUT,
};

/// Adds (`op` EPOLL_CTL_ADD), changes (EPOLL_CTL_MOD) or removes (EPOLL_CTL_DEL) the
/// level-triggered watch of `fd` for `events` (`ML_IO_READABLE | ML_IO_WRITABLE`), with the fd as
/// its token. Returns 0 or an errno.
static inline int ml_epoll_watch(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = (uint64_t)(uint32_t)fd;
    return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : errno;
}

enum {
    ML_EPOLL_ADD = EPOLL_CTL_ADD,
    ML_EPOLL_MOD = EPOLL_CTL_MOD,
    ML_EPOLL_DEL = EPOLL_CTL_DEL,
};

/// One readiness event, unpacked (x86-64's `struct epoll_event` is packed, which Swift reads
/// awkwardly): the token it was registered with and epoll's event bits.
typedef struct {
    uint64_t token;
    uint32_t events;
    uint32_t unused;
} ml_io_event;

/// The most events one `ml_epoll_wait_events` call returns.
#define ML_EPOLL_MAX_EVENTS 256

/// Waits as `ml_epoll_wait_ns` does, for up to `capacity` (at most ML_EPOLL_MAX_EVENTS) events,
/// written into `out`. Returns their number (0 on timeout), or -errno (EINTR: a spurious wake-up).
int ml_epoll_wait_events(int epfd, ml_io_event *out, int capacity, int64_t timeout_ns);

/// Waits for one event with a timeout in nanoseconds (-1: forever, 0: poll). Uses epoll_pwait2
/// (nanosecond resolution, Linux 5.11+) and falls back to epoll_wait with the timeout rounded
/// *up* to a millisecond, so a timer is never woken for early. Returns the number of events
/// (0 on timeout), or -errno. EINTR is returned to the caller (a spurious wake-up).
int ml_epoll_wait_ns(int epfd, int64_t timeout_ns);

// MARK: - Sockets

/// `accept4` (a GNU extension Swift's Glibc module does not show): the new connection is
/// non-blocking and close-on-exec from the start. Returns the fd, or -1 with errno set.
int ml_accept4_nonblocking(int fd, struct sockaddr *address, socklen_t *length);

// MARK: - Interleaving points (debug builds of MultiLoop only)
//
// In a debug build, MultiLoop's Swift code calls every atomic above, `ml_cpu_relax`,
// `ml_yield_cpu`, `ml_eventfd_signal`, `ml_epoll_wait_ns`, and pthread's mutex lock, unlock and
// condition waits, through Swift functions of the same names
// (Sources/_MultiLoopSystem/InterleavingPoints.swift) that first call
// `ml_interleaving_point`. With no hook installed that is one load and a branch. The tests'
// interleaving checker installs a hook that stops each thread it controls before every such
// operation and decides which thread goes next, so it can run the real protocol code through
// every interleaving of those operations (Tests/MultiLoopTests/Interleaving). A release build
// never calls it.

/// What a thread is about to do at an interleaving point.
enum {
    ML_POINT_LOAD = 1,     ///< an atomic load of `address`
    ML_POINT_STORE = 2,    ///< an atomic store to `address`
    ML_POINT_RMW = 3,      ///< a compare-and-swap or fetch-and-add on `address`
    ML_POINT_YIELD = 4,    ///< a spin-wait's pause: let another thread run
    ML_POINT_SIGNAL = 5,   ///< an eventfd write; `argument` is the fd
    ML_POINT_WAIT = 6,     ///< an epoll wait; `address` is 0, `argument` the epoll fd
    ML_POINT_LOCK = 7,     ///< a pthread mutex lock of `address`
    ML_POINT_UNLOCK = 8,   ///< a pthread mutex unlock of `address`
    ML_POINT_BLOCK = 9,    ///< a condition-variable wait on `address` (the checker does not model it)
};

/// What the hook answers: go on with the real operation, or (signal and wait only) the
/// result the checker decided instead of the system call.
enum {
    ML_POINT_PROCEED = -1,        ///< run the real operation
    ML_POINT_WAIT_TIMED_OUT = 0,  ///< the wait returns 0 (a timeout), no system call
    ML_POINT_WAIT_WOKEN = 1,      ///< the wait returns 1 (the eventfd's edge), no system call
    ML_POINT_SIGNAL_DONE = 2,     ///< the write is counted by the checker, no system call
};

/// The hook: `kind` is one of ML_POINT_*, `address` the word operated on (NULL for a signal or
/// a wait), `argument` the file descriptor of a signal or a wait, `timeout_ns` a wait's timeout
/// (-1: forever). Called on the thread about to do the operation, before it.
typedef int64_t (*ml_interleaving_hook_t)(int kind, const volatile void *address, int64_t argument,
                                          int64_t timeout_ns);

/// The installed hook, or NULL (the default). Set by `ml_interleaving_set_hook`.
extern ml_interleaving_hook_t ml_interleaving_hook_storage;

/// Installs (or, with NULL, removes) the hook. Release: the hook's own state, set up before, is
/// visible to every thread that then finds it.
void ml_interleaving_set_hook(ml_interleaving_hook_t hook);

/// Calls the hook if one is installed; otherwise answers ML_POINT_PROCEED.
static inline int64_t ml_interleaving_point(int kind, const volatile void *address, int64_t argument,
                                            int64_t timeout_ns) {
    ml_interleaving_hook_t hook = __atomic_load_n(&ml_interleaving_hook_storage, __ATOMIC_ACQUIRE);
    return hook ? hook(kind, address, argument, timeout_ns) : ML_POINT_PROCEED;
}

/// The calling thread's index in the checker (0: not a thread it controls). Thread-local.
int ml_interleaving_thread(void);
void ml_interleaving_set_thread(int index);

#endif
