#define _GNU_SOURCE
#include "CMultiLoopSystem.h"

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

// 0: unknown, 1: epoll_pwait2 works, 2: the kernel lacks it. Racy benignly: every thread that
// races here reaches the same answer.
static int ml_pwait2_support = 0;

static int ml_epoll_wait_into(int epfd, struct epoll_event *events, int capacity, int64_t timeout_ns) {
    if (__atomic_load_n(&ml_pwait2_support, __ATOMIC_RELAXED) != 2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
            ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
            tsp = &ts;
        }
        long n = syscall(SYS_epoll_pwait2, epfd, events, capacity, tsp, NULL, 0);
        if (n >= 0) {
            __atomic_store_n(&ml_pwait2_support, 1, __ATOMIC_RELAXED);
            return (int)n;
        }
        if (errno != ENOSYS) return -errno;
        __atomic_store_n(&ml_pwait2_support, 2, __ATOMIC_RELAXED);
    }
    int timeout_ms;
    if (timeout_ns < 0) {
        timeout_ms = -1;
    } else {
        int64_t ms = (timeout_ns + 999999LL) / 1000000LL;  // round up: never early
        timeout_ms = ms > 0x7fffffffLL ? 0x7fffffff : (int)ms;
    }
    int n = epoll_wait(epfd, events, capacity, timeout_ms);
    return n >= 0 ? n : -errno;
}

int ml_epoll_wait_ns(int epfd, int64_t timeout_ns) {
    struct epoll_event ev;
    return ml_epoll_wait_into(epfd, &ev, 1, timeout_ns);
}

int ml_epoll_wait_events(int epfd, ml_io_event *out, int capacity, int64_t timeout_ns) {
    struct epoll_event events[ML_EPOLL_MAX_EVENTS];
    if (capacity > ML_EPOLL_MAX_EVENTS) capacity = ML_EPOLL_MAX_EVENTS;
    if (capacity < 1) capacity = 1;
    int n = ml_epoll_wait_into(epfd, events, capacity, timeout_ns);
    for (int i = 0; i < n; i++) {
        out[i].token = events[i].data.u64;
        out[i].events = events[i].events;
        out[i].unused = 0;
    }
    return n;
}

int ml_accept4_nonblocking(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
