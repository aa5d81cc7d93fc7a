// System headers the echo client needs and Swift's Glibc module does not expose: epoll and the
// TCP socket options (TCP_NODELAY). Nothing but the system surface.
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <netinet/tcp.h>
#include <sys/epoll.h>
