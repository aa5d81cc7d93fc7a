// System calls Swift's Glibc module does not expose, for the scaling sweep's plain peers
// (the mutex-and-eventfd baseline and the raw eventfd floor).
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <errno.h>

/// A blocking eventfd (counter semantics), or -1 with errno set.
static inline int bench_eventfd(void) { return eventfd(0, EFD_CLOEXEC); }

/// Adds 1 to the counter, waking a reader blocked in bench_eventfd_wait.
static inline void bench_eventfd_signal(int fd) {
    uint64_t one = 1;
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR) {}
}

/// Blocks until the counter is non-zero, then resets it to 0.
static inline void bench_eventfd_wait(int fd) {
    uint64_t value;
    while (read(fd, &value, sizeof value) < 0 && errno == EINTR) {}
}

/// The CPUs this process may run on (its affinity mask), as the sweep's default thread counts
/// and the CSV's `cores` column use them.
static inline int bench_usable_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return (int)sysconf(_SC_NPROCESSORS_ONLN);
    return CPU_COUNT(&set);
}
