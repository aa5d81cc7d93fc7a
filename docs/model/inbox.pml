/*
 * inbox.pml -- Spin model of the MultiLoop inbox: a lock-free MPSC list whose
 * single machine word `head` also carries the loop thread's sleep state.
 *
 *   head == EMPTY      the inbox is empty, the loop is awake
 *   head == SLEEPING   the inbox is empty, the loop is in (or entering) epoll_wait
 *   head == CLOSED     the loop is closed: every push is rejected
 *   head == NODE(n)    a Treiber-style chain: node n is the newest push, next[n]
 *                      points to the previously newest node (or NIL)
 *
 * Processes:
 *   Producer     NPROD of them (p = _pid), each pushes NITEMS sequence-numbered
 *                items.
 *   Consumer     the loop thread (exactly one): polls or sleeps, drains, and
 *                at a nondeterministic point stops and closes the inbox.
 *
 * Properties (numbers as in README.md):
 *   P1 no lost wake-up    the consumer never blocks in epoll_wait while an accepted
 *                         item is in the inbox and nobody is going to write the
 *                         eventfd: CHECK_P1 in every state, and the final check at
 *                         `timeout` (quiescence); Spin's invalid-end-state check
 *                         covers any other deadlock.
 *   P2 no lost item       every ACCEPTED item runs exactly once.
 *   P3 close              no item is accepted after the close CAS; every item is
 *                         either ACCEPTED (and ran) or REJECTED.
 *   P4 FIFO per producer  each producer's items run in the order it pushed them.
 *   P5 one write a sleep  at most one eventfd write is owed to one sleep (one push
 *                         per sleep takes head from SLEEPING).
 *
 * Build-time switches:
 *   SPURIOUS=1 (default)  epoll_wait may also return at any time without an edge
 *                         (timer timeout, EINTR).
 *   SPURIOUS=0            epoll_wait returns only on an eventfd edge; the protocol
 *                         must pass without the help of spurious wake-ups.
 *   spin -DSPURIOUS=0 -a inbox.pml
 *   -DNO_INVARIANT        drop CHECK_P1 and rely on the final check at quiescence
 *                         only (to show what each check catches).
 *   -DCHECK_EVENTFD_LIFETIME  also assert that no eventfd_write is still to come
 *                         when the inbox is closed: this FAILS (see README.md).
 *
 * Granularity: every access to a shared word (a load, a CAS, the eventfd write,
 * the return of epoll_wait) is one atomic step; the thread-private work that
 * follows it (deciding a branch, writing the next field of an unpublished node,
 * reversing and running a chain that was taken) is folded into that step, since
 * no other thread can observe it. Every interleaving of shared accesses is explored.
 *
 * Memory model: Spin interleaves atomic steps (sequential consistency). Every
 * decision of the protocol is taken by a read-modify-write (CAS) on the one word
 * `head`; RMWs on one location are totally ordered and always read the latest
 * value in C11, so the plain loads are only hints that a failed CAS corrects.
 * The node fields (next, payload) are published by the release CAS of a push and
 * read after the acquire CAS of the drain / the full-barrier CAS of close.
 */

#ifndef SPURIOUS
#define SPURIOUS 1
#endif

#define NPROD   3
#define NITEMS  2
#define NNODES  6               /* NPROD * NITEMS; node n = p*NITEMS + k          */

/* Values of the word `head`. */
#define EMPTY     0
#define SLEEPING  1
#define CLOSED    2
#define NODE0     3             /* head == NODE0 + n  <=>  head points at node n   */
#define NIL       255           /* next[n] == NIL: n is the oldest node of its chain */
#define is_node(v)  ((v) >= NODE0 && (v) != NIL)

/* ---- shared state of the protocol ---------------------------------------- */
byte head = EMPTY;              /* the one machine word                              */
byte next[NNODES];              /* node.next, stored as a head value or NIL          */
bool signalled = false;         /* an eventfd edge is pending for epoll_wait. EPOLLET:
                                   several writes before the wait returns merge into
                                   one edge; a write while the loop is awake stays
                                   pending for the next epoll_wait. The eventfd
                                   counter itself is never read.                    */

/* ---- ghost state, used only by the assertions ----------------------------- */
bool accepted[NNODES];          /* push returned ACCEPTED                            */
bool rejected[NNODES];          /* push returned REJECTED                            */
byte ran[NNODES];               /* how many times the item ran                       */
byte next_seq[NPROD];           /* next sequence number expected from each producer  */
bool closed = false;            /* the close CAS has happened                        */
byte wakers = 0;                /* pushes that took head from SLEEPING during the
                                   current sleep = eventfd writes owed to it (P5)    */
byte pending_writes = 0;        /* pushes that may still write the eventfd: here the
                                   CAS from SLEEPING decides it, so these are the
                                   wakers whose eventfd_write is still to come       */
bool in_wait = false;           /* the consumer is inside epoll_wait                 */
byte ndone = 0;                 /* producers that have finished                      */

/* P1 as a state invariant: while the consumer is inside epoll_wait with an item in
 * the inbox, an eventfd edge is pending, or the producer that took head from
 * SLEEPING has not written the eventfd yet (and it will: a producer never blocks).
 * The invariant reads head, signalled, pending_writes and in_wait; it is asserted
 * at the end of every atomic step that writes any of them, which is as strong as
 * checking it in every reachable state (and, unlike a monitor process, does not
 * double the state space). */
#ifdef NO_INVARIANT
#define CHECK_P1 skip    /* -DNO_INVARIANT: rely on the final check at quiescence only */
#else
#define CHECK_P1 assert(!(in_wait && is_node(head) && !signalled && pending_writes == 0))
#endif

/* Run one item (the consumer's callback). Checks P2 and P4. */
inline run_item(v) {
    assert(ran[v - NODE0] == 0);                                    /* P2: once     */
    ran[v - NODE0]++;
    assert((v - NODE0) % NITEMS == next_seq[(v - NODE0) / NITEMS]); /* P4: FIFO     */
    next_seq[(v - NODE0) / NITEMS]++;
    next[v - NODE0] = NIL                                           /* node freed   */
}

/* The chain c (newest first) is private to the consumer once it has taken it:
 * reverse it in place (newest-first -> oldest-first), then run every item in
 * that FIFO order. Used inside an atomic step. */
inline run_chain(c) {
    prev = NIL; cur = c;
    do                                      /* reverse                              */
    :: cur != NIL -> nx = next[cur - NODE0]; next[cur - NODE0] = prev;
                     prev = cur; cur = nx
    :: else -> break
    od;
    cur = prev;                             /* oldest first                         */
    do
    :: cur != NIL -> nx = next[cur - NODE0]; run_item(cur); cur = nx
    :: else -> break
    od;
    prev = 0; cur = 0; nx = 0               /* dead locals: keep the state canonical */
}

/* ------------------------------------------------------------------------- */
/* A producer thread: push(n) for its items k = 0 .. NITEMS-1, in order.      */
active [NPROD] proctype Producer()   /* declared first: _pid = 0 .. NPROD-1 */
{
    byte k = 0;                 /* sequence number of the item being pushed        */
    byte old;                   /* the value of head the push has loaded           */
#define N (_pid * NITEMS + k)   /* its node: producer p = _pid                    */

push:
    /* retry: old = load(head)                                        (acquire)
     *        if old == CLOSED: return REJECTED
     *        n.next = (old is a node) ? old : nil
     * Writing n.next is private: n is not published yet. */
    atomic {
        old = head;
        if
        :: old == CLOSED ->
            rejected[N] = true;                 /* the caller gets an error: nothing lost */
            old = 0;
            goto next_item
        :: is_node(old) -> next[N] = old
        :: else         -> next[N] = NIL
        fi
    }
    /* if !CAS(head, old, n): goto retry                  (release on success) */
    atomic {
        if
        :: head == old ->
            head = NODE0 + N;
            assert(!closed);                    /* P3: never accepted after close    */
            accepted[N] = true;
            if
            :: old == SLEEPING ->               /* exactly this push ends the sleep  */
                wakers++;
                assert(wakers <= 1);            /* P5: one eventfd write per sleep   */
                pending_writes++;
                CHECK_P1
            :: else ->
                CHECK_P1;
                old = 0;
                goto next_item                  /* return ACCEPTED                   */
            fi
        :: else -> goto push                    /* CAS failed: retry                 */
        fi
    }
    /* if old == SLEEPING: eventfd_write() -- a step of its own: the producer can be
     * preempted between its CAS and the write for any length of time. */
    atomic {
        signalled = true;
        pending_writes--;
        CHECK_P1;
        old = 0
    }
    /* return ACCEPTED */
next_item:
    atomic {
        k++;
        if
        :: k < NITEMS -> goto push
        :: else -> ndone++
        fi
    }
#undef N
}

/* ------------------------------------------------------------------------- */
/* The loop thread: the only consumer.                                          */
active proctype Consumer()
{
    byte old, cur, prev, nx;
    bool quiescent = false;     /* woken by the final timer at quiescence           */
    byte i;

idle:
    /* One loop iteration with nothing ready: the model chooses to try to sleep,
     * to just poll the inbox, or to stop running. */
    if
    :: /* CAS(head, EMPTY, SLEEPING) succeeds: the loop is going to sleep. */
       atomic {
           head == EMPTY ->
           head = SLEEPING;
           wakers = 0;                         /* a new sleep: no write owed yet    */
           in_wait = true;
           CHECK_P1
       }
       goto wait
    :: /* CAS(head, EMPTY, SLEEPING) fails: head is a node chain -> drain. */
       atomic { head != EMPTY -> assert(is_node(head)) }
       goto drain
    :: /* poll the inbox without sleeping */
       goto drain
    :: /* stop running */
       goto close
    fi;

wait:
    /* epoll_wait(): it returns ... */
    if
    :: /* ... on an eventfd edge, consuming it ... */
       atomic { signalled -> signalled = false; in_wait = false }
#if SPURIOUS
    :: /* ... or spuriously at any time (timer timeout, EINTR) ... */
       in_wait = false
#endif
    :: /* ... or, only when nothing else in the whole system can move, on the timer
        * that stops the loop at the end of the test. This is not a wake-up that
        * can hide a lost one: at that point the inbox MUST be empty (P1),
        * otherwise an accepted item would wait forever. */
       atomic {
           timeout ->
           assert(head == SLEEPING);           /* P1: no item left behind at the end */
           in_wait = false;
           quiescent = true
       }
    fi;
    /* after waking, leave the sleeping state: CAS(head, SLEEPING, EMPTY) */
    atomic {
        if
        :: head == SLEEPING ->
            head = EMPTY;
            if
            :: quiescent -> goto close         /* the final timer stops the loop   */
            :: else      -> goto idle          /* nothing arrived: next iteration  */
            fi
        :: else ->
            assert(is_node(head));             /* CAS failed: head is a node chain */
            goto drain
        fi
    }

drain:
    /* drain (take all):
     * repeat { old = load(head); if old is not a node: break
     *          if CAS(head, old, EMPTY) (acquire): take chain old; break } */
    atomic {
        old = head;
        if
        :: !is_node(old) -> old = 0; goto idle  /* nothing to take                 */
        :: else
        fi
    }
    atomic {
        if
        :: head == old ->
            head = EMPTY;
            run_chain(old);                     /* reverse, run in FIFO order       */
            old = 0;
            goto idle
        :: else -> goto drain                   /* a producer pushed: retry         */
        fi
    }

close:
    /* Close (the loop thread, after it stopped running):
     * repeat { old = load(head); if CAS(head, old, CLOSED) (full barrier): break } */
    old = head;
    atomic {
        if
        :: head == old ->
            head = CLOSED;
            closed = true;
            assert(old != SLEEPING);            /* the loop does not sleep here     */
#ifdef CHECK_EVENTFD_LIFETIME
            /* Not a property of the protocol: would it be safe to close the eventfd
             * here? No -- a producer can still be between its CAS from SLEEPING and
             * its eventfd_write (see README.md, "Finding"). */
            assert(pending_writes == 0);
#endif
            /* if old is a node chain: run every item of it, in FIFO order: the
             * items accepted before close are never lost. */
            if
            :: is_node(old) -> run_chain(old)
            :: else
            fi
        :: else -> goto close
        fi
    }

    /* Join the producers, then check P2 and P3: every item was either accepted
     * and ran exactly once, or rejected and never ran. */
    atomic {
        ndone == NPROD ->
        i = 0;
        do
        :: i < NNODES ->
            assert(accepted[i] != rejected[i]);
            assert(accepted[i] -> ran[i] == 1 : ran[i] == 0);
            i++
        :: else -> break
        od;
        assert(head == CLOSED && pending_writes == 0);
        old = 0; i = 0
    }
}
