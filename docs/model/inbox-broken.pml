/*
 * inbox-broken.pml -- the classic lost wake-up, for contrast with inbox.pml.
 *
 * Same inbox (a Treiber list in `head`: EMPTY | CLOSED | newest node), same
 * producers, same consumer choices and the same checks as inbox.pml, but the
 * loop's sleep state is a SEPARATE flag instead of a value of `head`:
 *
 *   consumer:  if load(head) == EMPTY {      // "inbox empty?"
 *                  sleeping = true           // a second word
 *                  epoll_wait()
 *                  sleeping = false
 *              }
 *              drain
 *   producer:  push(n)  (CAS loop on head)
 *              if load(sleeping) { eventfd_write() }
 *
 * The window: the consumer sees EMPTY; a producer pushes and reads
 * sleeping == false, so it does not write the eventfd; the consumer then sets
 * sleeping = true and waits, with an item in the inbox and no edge coming.
 * Spin must report it: CHECK_P1 fails as soon as the consumer is in epoll_wait
 * with an item and no write pending, and (with SPURIOUS=0) the final timer at
 * quiescence finds the item still in the inbox.
 */

#ifndef SPURIOUS
#define SPURIOUS 1
#endif

#define NPROD   3
#define NITEMS  2
#define NNODES  6

#define EMPTY     0
#define CLOSED    2
#define NODE0     3
#define NIL       255
#define is_node(v)  ((v) >= NODE0 && (v) != NIL)

byte head = EMPTY;
byte next[NNODES];
bool sleeping = false;          /* THE BUG: the sleep state lives in a second word   */
bool signalled = false;         /* eventfd edge pending (EPOLLET, never read)        */

bool accepted[NNODES];
bool rejected[NNODES];
byte ran[NNODES];
byte next_seq[NPROD];
bool closed = false;
byte pending_writes = 0;        /* pushes that may still write the eventfd: from the
                                   CAS until the producer has read `sleeping` (false:
                                   no write) or has written the eventfd              */
bool in_wait = false;
byte ndone = 0;

#ifdef NO_INVARIANT
#define CHECK_P1 skip    /* -DNO_INVARIANT: rely on the final check at quiescence only */
#else
#define CHECK_P1 assert(!(in_wait && is_node(head) && !signalled && pending_writes == 0))
#endif

inline run_item(v) {
    assert(ran[v - NODE0] == 0);
    ran[v - NODE0]++;
    assert((v - NODE0) % NITEMS == next_seq[(v - NODE0) / NITEMS]);
    next_seq[(v - NODE0) / NITEMS]++;
    next[v - NODE0] = NIL
}

inline run_chain(c) {
    prev = NIL; cur = c;
    do
    :: cur != NIL -> nx = next[cur - NODE0]; next[cur - NODE0] = prev;
                     prev = cur; cur = nx
    :: else -> break
    od;
    cur = prev;
    do
    :: cur != NIL -> nx = next[cur - NODE0]; run_item(cur); cur = nx
    :: else -> break
    od;
    prev = 0; cur = 0; nx = 0
}

active [NPROD] proctype Producer()   /* declared first: _pid = 0 .. NPROD-1 */
{
    byte k = 0;
    byte old;
#define N (_pid * NITEMS + k)

push:
    atomic {                                    /* old = load(head)                 */
        old = head;
        if
        :: old == CLOSED -> rejected[N] = true; old = 0; goto next_item
        :: is_node(old) -> next[N] = old
        :: else         -> next[N] = NIL
        fi
    }
    atomic {                                    /* CAS(head, old, n) or retry       */
        if
        :: head == old ->
            head = NODE0 + N;
            assert(!closed);
            accepted[N] = true;
            pending_writes++;                   /* it may still write               */
            CHECK_P1;
            old = 0
        :: else -> goto push
        fi
    }
    atomic {                                    /* if load(sleeping) ...            */
        if
        :: sleeping                             /* set: write (next step)           */
        :: else ->                              /* not set: no write -- lost if the  */
            pending_writes--;                   /* loop is about to set it and wait  */
            CHECK_P1;
            goto next_item
        fi
    }
    atomic {                                    /* ... eventfd_write()              */
        signalled = true;
        pending_writes--;
        CHECK_P1
    }
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

active proctype Consumer()
{
    byte old, cur, prev, nx;
    bool quiescent = false;
    byte i;

idle:
    if
    :: /* try to sleep: "is the inbox empty?" */
       atomic {
           if
           :: head == EMPTY                     /* yes: go to sleep (next step)     */
           :: else -> goto drain
           fi
       }
       /* sleeping = true; enter epoll_wait -- too late if a push came in between */
       atomic { sleeping = true; in_wait = true; CHECK_P1 }
    :: goto drain                               /* poll                             */
    :: goto close                               /* stop                             */
    fi;

    /* epoll_wait() */
    if
    :: atomic { signalled -> signalled = false; in_wait = false }
#if SPURIOUS
    :: in_wait = false
#endif
    :: atomic {
           timeout ->
           assert(head == EMPTY);               /* P1: no item left behind          */
           in_wait = false;
           quiescent = true
       }
    fi;
    atomic {
        sleeping = false;
        if
        :: quiescent -> goto close
        :: else
        fi
    }

drain:
    atomic {
        old = head;
        if
        :: !is_node(old) -> old = 0; goto idle
        :: else
        fi
    }
    atomic {
        if
        :: head == old -> head = EMPTY; run_chain(old); old = 0; goto idle
        :: else -> goto drain
        fi
    }

close:
    old = head;
    atomic {
        if
        :: head == old ->
            head = CLOSED;
            closed = true;
            if
            :: is_node(old) -> run_chain(old)
            :: else
            fi
        :: else -> goto close
        fi
    }

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
