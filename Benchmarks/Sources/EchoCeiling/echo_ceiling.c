// echo-ceiling: the smallest epoll echo server we could write, to show what the echo benchmark's
// load generator (multiloop-echo-client) can drive. No real server does less per message: one
// thread, level-triggered epoll, and for each readable connection one read() into a static buffer
// followed by write()s of the same bytes. If the generator drives this server faster than every
// real server at every point, the generator is not what limits them (docs/benchmarks.md, "Echo
// server").
//
//   echo-ceiling [--host 127.0.0.1] [--port 25000]
//
// Runs until killed (SIGTERM or SIGINT). Exit status 2 on bad usage, 1 when it cannot listen.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static char buffer[256 * 1024];

// Writes all n bytes. A full socket buffer (the client has not read its replies yet) is waited
// out with poll() on this one connection: that stalls the others, but it spares the server a
// per-connection output queue, and the benchmark's client always reads, so it is rare and brief.
static void write_all(int fd, const char *bytes, size_t n) {
    while (n > 0) {
        ssize_t written = send(fd, bytes, n, MSG_NOSIGNAL);
        if (written > 0) {
            bytes += written;
            n -= (size_t)written;
        } else if (written < 0 && errno == EAGAIN) {
            struct pollfd writable = {.fd = fd, .events = POLLOUT};
            poll(&writable, 1, -1);
        } else if (written < 0 && errno == EINTR) {
            continue;
        } else {
            return;  // the peer is gone; the next read() sees it and closes the connection
        }
    }
}

static int usage(const char *program) {
    fprintf(stderr, "usage: %s [--host IPV4] [--port PORT]\n", program);
    return 2;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = 25000;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return usage(argv[0]);
        if (strcmp(argv[i], "--host") == 0) {
            host = argv[i + 1];
        } else if (strcmp(argv[i], "--port") == 0) {
            char *end;
            port = strtol(argv[i + 1], &end, 10);
            if (*end != '\0' || port < 0 || port > 65535) return usage(argv[0]);
        } else {
            return usage(argv[0]);
        }
    }

    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return usage(argv[0]);
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(listener, 1024) != 0) {
        perror("echo-ceiling: listen");
        return 1;
    }

    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event ready[256];
    for (;;) {
        int count = epoll_wait(epoll, ready, 256, -1);
        for (int i = 0; i < count; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int connection;
                while ((connection = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event readable = {.events = EPOLLIN, .data.fd = connection};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, connection, &readable);
                }
                continue;
            }
            ssize_t n = read(fd, buffer, sizeof buffer);
            if (n > 0) {
                write_all(fd, buffer, (size_t)n);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(fd);  // also takes it out of the epoll set
            }
        }
    }
}
