// LeakSanitizer misses live threads whose kernel thread id a joined thread had before: what
// only such a thread's TLS holds is reported as leaked (the false positive .ci/lsan.supp
// suppresses). No Swift, no MultiLoop:
//
//   clang -fsanitize=address -fuse-ld=lld -g .ci/lsan-tid-reuse.c -o /tmp/tid-reuse
//   /tmp/tid-reuse 10      # no report: the ids are not reused
//   /tmp/tid-reuse 40000   # more joined threads than /proc/sys/kernel/pid_max (32768):
//                          # "leaked" 8 x 24 bytes; LSAN_OPTIONS=log_threads=1 prints
//                          # "Thread N not found in registry" for the 8 live threads
#include <pthread.h>
#include <stdlib.h>

static pthread_key_t key;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int started;

static void *nothing(void *arg) { return arg; }

// Keeps a block reachable only through its thread-specific value, and never exits.
static void *holder(void *arg) {
    pthread_setspecific(key, malloc(24));
    pthread_mutex_lock(&mutex);
    started++;
    pthread_cond_broadcast(&cond);
    for (;;) pthread_cond_wait(&cond, &mutex);
    return arg;
}

int main(int argc, char **argv) {
    int joined = argc > 1 ? atoi(argv[1]) : 40000;
    pthread_key_create(&key, free);
    for (int i = 0; i < joined; i++) {
        pthread_t thread;
        pthread_create(&thread, NULL, nothing, NULL);
        pthread_join(thread, NULL);
    }
    for (int i = 0; i < 8; i++) {
        pthread_t thread;
        pthread_create(&thread, NULL, holder, NULL);
        pthread_detach(thread);
    }
    pthread_mutex_lock(&mutex);
    while (started < 8) pthread_cond_wait(&cond, &mutex);
    pthread_mutex_unlock(&mutex);
    return 0;  // LeakSanitizer checks at exit, the 8 holders still alive
}
