/*
 * lanes.pml -- Spin model of MultiLoop's per-producer lane submission protocol.
 *
 * Each producer thread gets its own single-producer / single-consumer lane into a
 * loop. The loop's Treiber list (the word `head`, as in inbox.pml) carries only
 * *lane registrations*: one node per (producer, loop), pushed once, the first time
 * the producer submits to that loop. Items go through the lane.
 *
 * Shared words:
 *   head          the loop's wake word, one machine word:
 *                   EMPTY      no registration pending, the loop is awake
 *                   SLEEPING   no registration pending, the loop is in (or entering)
 *                              epoll_wait
 *                   CLOSED     the loop is closed: every registration is rejected
 *                   NODE(p)    a Treiber chain of registrations: producer p's node is
 *                              the newest, next[p] the previously newest (or NIL)
 *   pub[p]        producer p's lane word: (items published) * 2 + closedBit. The
 *                 item slots are private memory, published by the CAS on pub[p]
 *                 (release) and read by the consumer after it loaded pub[p] (acquire).
 *   abandoned[p]  lane p's producer thread has exited (InboxLane.abandon()).
 *   signalled     the eventfd edge, as in inbox.pml: a write sets it, a return of
 *                 epoll_wait consumes it; several writes merge into one edge; the
 *                 eventfd counter itself is never read.
 *
 * Processes:
 *   Producer   NPROD of them (p = _pid), each submits NITEMS items k = 0..NITEMS-1,
 *              in order:
 *                1. before item 0, register the lane: a Treiber push of node p onto
 *                   head (a CAS loop; head == CLOSED -> the registration, and with it
 *                   every item of this producer, is REJECTED). A push that replaced
 *                   SLEEPING owes one eventfd write: the model writes it right away
 *                   or after the first item (both are explored);
 *                2. item k: write the slot (private), CAS(pub[p], 2k, 2k+2) (full
 *                   barrier). Success: ACCEPTED. Failure (the consumer set the closed
 *                   bit): REJECTED, and so will be every later item;
 *                3. after a successful publish: load head; if SLEEPING:
 *                   CAS(head, SLEEPING, EMPTY); if that succeeds this producer, and
 *                   only it, writes the eventfd. Each a separate step;
 *                4. at thread exit (ABANDON): abandoned[p] = true (release), unless a
 *                   refused push made the thread forget the lane.
 *   Consumer   the loop thread (exactly one). Its private state: the set R of lanes
 *              it took from the registration chain (inR[]) and consumed[p] per lane.
 *              It polls (drains), or tries to sleep, or stops and closes:
 *                drain   take the chain (CAS(head, chain, EMPTY)), add its lanes to R;
 *                        then for each p in R: load pub[p] and run items consumed[p]
 *                        .. pub[p]/2 - 1, or only the first of them (the loop's limit
 *                        of items per lane and iteration, modelled as a choice); a lane that gave nothing (ABANDON): load
 *                        abandoned[p]; if set, load pub[p] again; still nothing: drop
 *                        the lane from R;
 *                sleep   CAS(head, EMPTY, SLEEPING) (a chain: drain instead), then scan
 *                        every lane in R; unconsumed items: cancel, CAS(head, SLEEPING,
 *                        EMPTY) (failing is fine), drain; none: block in epoll_wait;
 *                        after waking, CAS(head, SLEEPING, EMPTY) (failing is fine),
 *                        drain;
 *                close   CAS(head, old, CLOSED) taking any chain into R; then for each
 *                        p in R: CAS(pub[p], v, v | closedBit) (a CAS loop) and run
 *                        the v/2 - consumed[p] items it saw; join the producers.
 *
 * Properties (numbers as in README.md):
 *   P1 no lost wake-up    never: the consumer is in epoll_wait, work is pending (a
 *                         registration chain in head, or a lane with unconsumed
 *                         items), no eventfd edge is pending, no producer owes a write,
 *                         and no producer is between its successful publish and the end
 *                         of its head check (CHECK_P1, after every step that writes one
 *                         of these); and at quiescence (`timeout`) the sleeping loop has
 *                         nothing left behind.
 *   P2 no lost item       every ACCEPTED item runs exactly once; the consumer only runs
 *                         items that were published.
 *   P3 close              no item is accepted after its lane's closed bit is set, no
 *                         registration after the close CAS; every item is ACCEPTED xor
 *                         REJECTED; at the end every registered lane is in R and closed,
 *                         or was dropped (abandoned and empty).
 *   P4 FIFO per producer  item k of a producer runs after its item k-1.
 *   P5 one write a sleep  during one sleep at most one producer takes head out of
 *                         SLEEPING (a registration push or a lane producer's CAS), so
 *                         at most one eventfd write is owed to it.
 *
 * Build-time switches:
 *   SPURIOUS=1 (default)  epoll_wait may return at any time without an edge.
 *   SPURIOUS=0            only on an eventfd edge (or at quiescence, for the final check).
 *   -DNPROD=n -DNITEMS=n  sizes (defaults 3 and 2).
 *   BATCH=1 (default)     a producer may also publish items k and k+1 with one CAS
 *                         (2k -> 2k+4): `executeBatch` (InboxLane.publishBatch), accepted
 *                         or refused whole. BATCH=0: one item per CAS only.
 *   -DABANDON=0           leave out step 4 and the dropping of abandoned lanes (the
 *                         protocol without lane removal).
 *   -DBROKEN_NO_RESCAN    BROKEN: the consumer blocks right after its EMPTY -> SLEEPING
 *                         CAS without scanning the lanes: must FAIL (lost wake-up).
 *   -DBROKEN_CHECK_BEFORE_PUBLISH  BROKEN: a producer checks head (step 3) before its
 *                         publish CAS (step 2): must FAIL (lost wake-up).
 *   -DBROKEN_CLOSE_NO_LANE_CAS  BROKEN: close reads pub[p] with a plain load and runs
 *                         what it saw, without setting the closed bit; producers still
 *                         CAS 2k -> 2k+2, which now succeeds after close: must FAIL
 *                         (an accepted item is lost).
 *   -DNO_INVARIANT        drop CHECK_P1 and rely on the final check at quiescence
 *                         only (to show what each check catches).
 *   -DCHECK_EVENTFD_LIFETIME  also assert at the close CAS that no eventfd write is
 *                         still to come: this FAILS, as in inbox.pml (see README.md).
 *   -DASSERT_NEVER_LANE_WAKE  sanity: assert that a lane producer (not a registration)
 *                         never takes head out of SLEEPING while the consumer is blocked
 *                         in epoll_wait: must FAIL, showing the lane wake path is used.
 *
 * Granularity: every access to a shared word (a load or CAS of head or of a pub[p],
 * the eventfd write, the return of epoll_wait) is one atomic step. Thread-private work
 * is folded into the step before it: writing next[p] of the unpublished registration
 * node, writing the item's slot, walking a taken chain into R, running the items a
 * load of pub[p] made visible, choosing the next lane of R to look at. The consumer
 * visits the lanes of R in index order (the code's array is in registration order,
 * permuted by the swap-removal of dropped lanes; nothing in the argument depends on
 * the order).
 *
 * Memory model: Spin interleaves atomic steps (sequential consistency). Two arguments
 * span two words:
 *  - the wake-up, Dekker-style: the producer does CAS(pub[p]) then load(head); the
 *    consumer does CAS(head, EMPTY, SLEEPING) then load(pub[p]) for every lane in R.
 *    SC is sound for these four accesses if each CAS is a full barrier that also keeps
 *    the later load after the CAS's store (store-load order): then at least one side
 *    sees the other's write. The code's ml_fetch_cas_acq_rel promises that ("a full
 *    barrier on both sides"); how the C shim delivers it is discussed in README.md;
 *  - dropping a lane: abandon() is a release store after the producer's last push;
 *    the consumer acquire-loads it, so its second load of pub[p] sees every push.
 * Every other decision is a CAS on one word (head or pub[p]); RMWs on one location
 * are totally ordered and read the latest value, so a plain load that only guesses a
 * CAS's expected value is a hint that a failed CAS corrects. The slots are published
 * by the producer's CAS on pub[p] (release) and read after the consumer's acquire load
 * (or its closing CAS) of pub[p]; the registration node's next field by the release
 * CAS of the push and the acquire CAS of drain / the full-barrier CAS of close.
 */

#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef ABANDON
#define ABANDON 1
#endif
#ifndef NPROD
#define NPROD   3
#endif
#ifndef NITEMS
#define NITEMS  2
#endif
#ifndef BATCH
#define BATCH   1
#endif
#define NNITEMS (NPROD * NITEMS) /* item i = p*NITEMS + k                           */

/* Values of the word `head`. */
#define EMPTY     0
#define SLEEPING  1
#define CLOSED    2
#define NODE0     3             /* head == NODE0 + p  <=>  head points at node p     */
#define NIL       255           /* next[p] == NIL: p is the oldest node of its chain */
#define is_node(v)  ((v) >= NODE0 && (v) != NIL)

/* ---- shared state of the protocol ---------------------------------------- */
byte head = EMPTY;              /* the loop's wake word                              */
byte next[NPROD];               /* registration node p's next, as a head value / NIL */
byte pub[NPROD];                /* lane word: published * 2 + closedBit              */
bool signalled = false;         /* an eventfd edge is pending for epoll_wait         */
bool abandoned[NPROD];          /* lane p's producer has exited (ABANDON)            */

/* ---- state private to the consumer (global only so that CHECK_P1 can read it) -- */
bool inR[NPROD];                /* lane p is in R (its registration was taken)       */
byte consumed[NPROD];           /* items of lane p that have run                     */

/* ---- ghost state, used only by the assertions ----------------------------- */
bool accepted[NNITEMS];         /* the submission returned ACCEPTED                  */
bool rejected[NNITEMS];         /* the submission returned REJECTED                  */
byte ran[NNITEMS];              /* how many times the item ran                       */
bool registered[NPROD];         /* producer p's registration push was accepted       */
bool lane_closed[NPROD];        /* the consumer closed lane p (set its closed bit)   */
bool dropped[NPROD];            /* the consumer dropped lane p from R (ABANDON)      */
bool closed = false;            /* the close CAS on head has happened                */
byte unconsumed = 0;            /* items accepted and not yet run (all lanes)        */
byte wakers = 0;                /* producers that took head out of SLEEPING during
                                   the current sleep (P5); 0 while the loop is awake,
                                   so that it is not history that splits states      */
byte pending_writes = 0;        /* producers that owe an eventfd write: took head out
                                   of SLEEPING and have not written yet              */
byte checking = 0;              /* producers between a successful publish CAS and the
                                   end of their head check (they will look at head)  */
bool in_wait = false;           /* the consumer is blocked in epoll_wait             */
byte ndone = 0;                 /* producers that have finished                      */

/* P1 as a state invariant, asserted at the end of every atomic step that writes
 * head, signalled, pub[], consumed[], in_wait, pending_writes or checking. Work is
 * pending when head is a registration chain or any lane has unconsumed items (a
 * lane not in R with items has its registration in the chain, so is covered twice). */
#ifdef NO_INVARIANT
#define CHECK_P1 skip    /* -DNO_INVARIANT: rely on the final check at quiescence only */
#else
#define CHECK_P1 assert(!(in_wait && (is_node(head) || unconsumed > 0) && \
                          !signalled && pending_writes == 0 && checking == 0))
#endif

#ifdef BROKEN_CHECK_BEFORE_PUBLISH
#define OPEN_CHECK  skip        /* the check is before the publish: no such window   */
#define CLOSE_CHECK skip
#else
#define OPEN_CHECK  checking++
#define CLOSE_CHECK checking--
#endif

/* Advance the consumer's lane index p to the next lane in R at or after p
 * (p == NPROD: none). Private: folded into the step that calls it. */
inline next_in_R() {
    do
    :: p < NPROD && !inR[p] -> p++
    :: else -> break
    od
}

/* Run the items consumed[q] .. n-1 of lane q, in order. Checks P2 and P4. */
inline run_lane(q, n) {
    do
    :: consumed[q] < n ->
        assert(accepted[q * NITEMS + consumed[q]]);             /* P2: was published */
        assert(ran[q * NITEMS + consumed[q]] == 0);             /* P2: once          */
        assert(consumed[q] == 0 || ran[q * NITEMS + consumed[q] - 1] == 1); /* P4    */
        ran[q * NITEMS + consumed[q]]++;
        unconsumed--;
        consumed[q]++
    :: else -> break
    od
}

/* The chain c is private to the consumer once taken: add its lanes to R. */
inline take_chain(c) {
    cur = c;
    do
    :: cur != NIL ->
        assert(registered[cur - NODE0] && !inR[cur - NODE0]);  /* pushed once       */
        inR[cur - NODE0] = true;
        nx = next[cur - NODE0];
        next[cur - NODE0] = 0;                                  /* dead field        */
        cur = nx
    :: else -> break
    od;
    cur = 0; nx = 0                         /* dead locals: keep the state canonical */
}

/* ------------------------------------------------------------------------- */
/* What a producer does after its head check (step 3). */
#ifdef BROKEN_CHECK_BEFORE_PUBLISH
#define AFTER_CHECK goto publish
#else
#define AFTER_CHECK finish_item()
#endif

/* Producer step 3, the head check after a publish: load head; if SLEEPING,
 * CAS(head, SLEEPING, EMPTY); if that succeeds, write the eventfd. Three steps,
 * each ending with AFTER_CHECK (defined above: the next item, or, in the broken
 * variant, the publish). */
inline wake_check() {
    atomic {
        if
        :: head == SLEEPING -> skip
        :: else -> CLOSE_CHECK; CHECK_P1; AFTER_CHECK    /* awake, closed, or a chain */
        fi
    }
    atomic {
        if
        :: head == SLEEPING ->
            head = EMPTY;
#ifdef ASSERT_NEVER_LANE_WAKE
            assert(!in_wait);               /* sanity: FAILS, a lane producer does end
                                               a sleep the loop is blocked in        */
#endif
            wakers++;
            assert(wakers <= 1);            /* P5                                     */
            pending_writes++;
            CLOSE_CHECK;
            CHECK_P1
        :: else -> CLOSE_CHECK; CHECK_P1; AFTER_CHECK    /* changed since the load    */
        fi
    }
    atomic {                                /* eventfd_write(): a step of its own     */
        signalled = true;
        pending_writes--;
        CHECK_P1;
        AFTER_CHECK
    }
}

/* After item k is done (accepted or rejected, and checked): the registration's
 * deferred eventfd write if it is still owed, else the next item, else finish. */
inline finish_item() {
    if
    :: owe -> goto deferred_write
    :: else ->
        k++;
        if
        :: k < NITEMS -> goto item
        :: else ->
            k = 0;
#if ABANDON
            if                              /* the lane is still in the thread's table */
            :: !rejected[_pid * NITEMS + NITEMS - 1] -> goto exit_thread
            :: else                         /* a refused push forgot it: no abandon    */
            fi;
#endif
            ndone++;
            break                           /* return: leaves the producer's `do`    */
        fi
    fi
}

active [NPROD] proctype Producer()   /* declared first: _pid = 0 .. NPROD-1 */
{
    byte k = 0;                 /* the item being submitted                          */
    byte old;                   /* the value of head the registration push loaded    */
    bool owe = false;           /* the registration took head out of SLEEPING and its
                                   eventfd write was deferred until after item 0     */
#define P  _pid
#define I  (_pid * NITEMS + k)

    do                          /* runs once; `break` is the producer's return       */
    ::
register:
        /* retry: old = load(head); CLOSED: REJECTED; node.next = old or nil (private) */
        atomic {
            old = head;
            if
            :: old == CLOSED ->
                do                          /* this item and every later one: REJECTED */
                :: k < NITEMS -> rejected[I] = true; k++
                :: else -> break
                od;
                next[P] = 0;                /* dead: a failed attempt may have set it */
                old = 0; k = 0; ndone++;
                break
            :: is_node(old) -> next[P] = old
            :: else         -> next[P] = NIL
            fi
        }
        /* if !CAS(head, old, node p): retry                        (release on success) */
        atomic {
            if
            :: head == old ->
                head = NODE0 + P;
                assert(!closed);            /* P3: no registration after close        */
                registered[P] = true;
                if
                :: old == SLEEPING ->       /* this push ends the sleep: owes a write */
                    wakers++;
                    assert(wakers <= 1);    /* P5                                     */
                    pending_writes++;
                    old = 0;
                    CHECK_P1;
                    if
                    :: goto reg_write       /* write now ...                          */
                    :: owe = true; goto item    /* ... or after item 0                */
                    fi
                :: else -> old = 0; CHECK_P1; goto item
                fi
            :: else -> goto register
            fi
        }
reg_write:
        atomic { signalled = true; pending_writes--; CHECK_P1; goto item }

item:
#ifdef BROKEN_CHECK_BEFORE_PUBLISH
        wake_check();                       /* BROKEN: looks at head before publishing */
publish:
#endif
        /* write slot k (private); CAS(pub[p], 2k, 2k+2)           (full barrier)  */
        atomic {
            if
            :: pub[P] == 2 * k ->
                pub[P] = 2 * k + 2;
                assert(!lane_closed[P]);    /* P3: not accepted after the closed bit  */
                accepted[I] = true;
                unconsumed++;
                OPEN_CHECK;
                CHECK_P1
#ifdef BROKEN_CHECK_BEFORE_PUBLISH
                ; finish_item()
#endif
#if BATCH
            :: k + 1 < NITEMS && pub[P] == 2 * k ->   /* a batch: k and k + 1, one CAS */
                pub[P] = 2 * k + 4;
                assert(!lane_closed[P]);    /* P3                                     */
                accepted[I] = true;
                accepted[I + 1] = true;
                unconsumed = unconsumed + 2;
                k++;                        /* finish_item() then moves past k + 1    */
                OPEN_CHECK;
                CHECK_P1
#ifdef BROKEN_CHECK_BEFORE_PUBLISH
                ; finish_item()
#endif
#endif
            :: else ->                      /* the closed bit is set: REJECTED        */
                assert((pub[P] & 1) == 1 && (pub[P] >> 1) <= k);
                rejected[I] = true;
                finish_item()
            fi
        }
#ifndef BROKEN_CHECK_BEFORE_PUBLISH
        wake_check();
#endif
deferred_write:
        atomic {                            /* the registration's eventfd write       */
            signalled = true;
            pending_writes--;
            owe = false;
            CHECK_P1;
            finish_item()
        }
#if ABANDON
exit_thread:
        /* The thread exits: its lane table abandons the lane (a release store). */
        atomic { abandoned[P] = true; ndone++; break }
#endif
    od
#undef P
#undef I
}

/* ------------------------------------------------------------------------- */
/* The loop thread: the only consumer.                                          */
active proctype Consumer()
{
    byte old, cur, nx;          /* a head value; walking a taken chain               */
    byte p;                     /* the lane being looked at (p == NPROD: none left)  */
    byte v;                     /* a value of pub[p]                                 */
    bool quiescent = false;     /* woken by the final timer at quiescence            */

idle:
    /* One loop iteration with nothing ready: try to sleep, poll, or stop. */
    if
    :: /* CAS(head, EMPTY, SLEEPING) succeeds: then scan the lanes of R */
       atomic {
           head == EMPTY ->
           head = SLEEPING;
           wakers = 0;                      /* a new sleep: no write owed to it yet   */
           p = 0;
           next_in_R();
#ifdef BROKEN_NO_RESCAN
           p = 0;                           /* BROKEN: blocks without the scan        */
           in_wait = true; CHECK_P1; goto wait
#else
           if
           :: p == NPROD -> p = 0; in_wait = true; CHECK_P1; goto wait  /* R empty */
           :: else -> CHECK_P1; goto scan
           fi
#endif
       }
    :: /* CAS(head, EMPTY, SLEEPING) fails: head is a registration chain -> drain */
       atomic { head != EMPTY -> assert(is_node(head)); goto drain }
    :: /* poll without sleeping */
       goto drain
    :: /* stop running */
       goto close
    fi;

scan:
    /* load(pub[p]) for each p in R (one step each): anything unconsumed cancels the
     * sleep; nothing in any lane: block in epoll_wait (in_wait). */
    atomic {
        if
        :: (pub[p] >> 1) != consumed[p] -> p = 0; goto cancel
        :: else ->
            p++;
            next_in_R();
            if
            :: p == NPROD -> p = 0; in_wait = true; CHECK_P1; goto wait
            :: else -> goto scan
            fi
        fi
    }

cancel:
    /* Cancel the sleep without blocking: CAS(head, SLEEPING, EMPTY). If it fails,
     * head is a chain (drain takes it) or EMPTY (a producer took SLEEPING and owes a
     * write: it will be a spurious wake-up later). Then drain. */
    atomic {
        if
        :: head == SLEEPING -> head = EMPTY
        :: else -> assert(head == EMPTY || is_node(head))
        fi;
        wakers = 0;                         /* the sleep is over (P5)                 */
        CHECK_P1;
        goto drain
    }

wait:
    /* epoll_wait(): it returns ... */
    if
    :: /* ... on an eventfd edge, consuming it ... */
       atomic { signalled -> signalled = false; in_wait = false }
#if SPURIOUS
    :: /* ... or spuriously at any time (timer timeout, EINTR) ... */
       in_wait = false
#endif
    :: /* ... or, only when nothing else can move, on the final timer that stops the
        * loop at the end of the run: at that point nothing may be left behind (P1). */
       atomic {
           timeout ->
           assert(head == SLEEPING);         /* P1: no registration chain left       */
           assert(unconsumed == 0);          /* P1: no lane item left behind         */
           assert(pending_writes == 0 && checking == 0 && ndone == NPROD);
           in_wait = false;
           quiescent = true
       }
    fi;
    /* After waking: CAS(head, SLEEPING, EMPTY). If it fails, head is a chain or EMPTY
     * (a lane producer woke us). Either way, drain. */
    atomic {
        if
        :: head == SLEEPING -> head = EMPTY
        :: else -> assert(head == EMPTY || is_node(head))
        fi;
        wakers = 0;                         /* the sleep is over (P5)                 */
        CHECK_P1;
        if
        :: quiescent -> goto close          /* the final timer stops the loop         */
        :: else      -> goto drain
        fi
    }

drain:
    /* take the chain: old = load(head); a chain: CAS(head, old, EMPTY) (acquire),
     * retry on failure, add its lanes to R */
    atomic {
        old = head;
        if
        :: is_node(old) -> skip
        :: else ->
            old = 0; p = 0; next_in_R();
            if
            :: p == NPROD -> p = 0; goto idle
            :: else -> goto lanes
            fi
        fi
    }
    atomic {
        if
        :: head == old ->
            head = EMPTY;
            take_chain(old);
            old = 0; p = 0; next_in_R();
            CHECK_P1;
            if
            :: p == NPROD -> p = 0; goto idle
            :: else -> goto lanes
            fi
        :: else -> goto drain               /* a producer registered: retry          */
        fi
    }
lanes:
    /* for each p in R: load(pub[p]) (acquire), run items consumed[p] .. pub[p]/2-1 */
    atomic {
#if ABANDON
        if
        :: (pub[p] >> 1) == consumed[p] -> goto lane_empty   /* took nothing     */
        :: else
        fi;
#endif
        /* The loop takes at most drainLimitPerLane items of a lane per iteration: either
         * everything published, or (nondeterministically) only the first item, the rest
         * staying published for a later drain or for the sleep's scan to see. */
        if
        :: run_lane(p, pub[p] >> 1)
        :: (pub[p] >> 1) > consumed[p] + 1 ->
            v = consumed[p] + 1;            /* (run_lane re-reads its bound: fix it)     */
            run_lane(p, v);
            v = 0                           /* dead local: keep the state canonical      */
        fi;
        CHECK_P1;
        p++;
        next_in_R();
        if
        :: p == NPROD -> p = 0; goto idle
        :: else -> goto lanes
        fi
    }
#if ABANDON
lane_empty:
    /* Took nothing: load(abandoned[p]) (acquire); abandoned: load(pub[p]) (acquire)
     * again, and if it still shows nothing, drop the lane from R. */
    atomic {
        if
        :: abandoned[p] -> goto lane_drop
        :: else ->
            p++;
            next_in_R();
            if
            :: p == NPROD -> p = 0; goto idle
            :: else -> goto lanes
            fi
        fi
    }
lane_drop:
    atomic {
        if
        :: (pub[p] >> 1) == consumed[p] -> inR[p] = false; dropped[p] = true
        :: else                             /* its last items came after the first
                                               load: keep it, the next drain takes them */
        fi;
        CHECK_P1;
        p++;
        next_in_R();
        if
        :: p == NPROD -> p = 0; goto idle
        :: else -> goto lanes
        fi
    }
#endif

close:
    /* Close: repeat { old = load(head); CAS(head, old, CLOSED) (full barrier) }; a
     * chain taken by it goes into R: a registration accepted before the CAS is in it. */
    old = head;
    atomic {
        if
        :: head == old ->
            head = CLOSED;
            closed = true;
            assert(old != SLEEPING);        /* the loop does not sleep here           */
#ifdef CHECK_EVENTFD_LIFETIME
            /* Not a property of the protocol: could the eventfd be closed here? No:
             * a producer can still be between its CAS from SLEEPING and its write. */
            assert(pending_writes == 0);
#endif
            if
            :: is_node(old) -> take_chain(old)
            :: else
            fi;
            old = 0; p = 0; next_in_R();
            if
            :: p == NPROD -> p = 0; goto join
            :: else -> goto close_lane
            fi
        :: else -> goto close
        fi
    }

close_lane:
#ifndef BROKEN_CLOSE_NO_LANE_CAS
    /* for each p in R: v = load(pub[p]); repeat CAS(pub[p], v, v | 1) (full barrier),
     * a failed CAS returning the current value; then run the items it saw. */
    atomic { v = pub[p] }
close_cas:
    atomic {
        if
        :: pub[p] == v ->
            pub[p] = v | 1;
            lane_closed[p] = true;
            run_lane(p, v >> 1);
            v = 0;
            p++;
            next_in_R();
            if
            :: p == NPROD -> p = 0; goto join
            :: else -> goto close_lane
            fi
        :: else -> v = pub[p]; goto close_cas   /* the producer published: retry     */
        fi
    }
#else
    /* BROKEN: a plain load of pub[p]; run what it shows; no closed bit. */
    atomic {
        v = pub[p];
        lane_closed[p] = true;
        run_lane(p, v >> 1);
        v = 0;
        p++;
        next_in_R();
        if
        :: p == NPROD -> p = 0; goto join
        :: else -> goto close_lane
        fi
    }
#endif

join:
    /* Join the producers, then check P2 and P3 for every item and lane. */
    atomic {
        ndone == NPROD ->
        v = 0;
        do
        :: v < NNITEMS ->
            assert(accepted[v] != rejected[v]);                     /* P3: xor       */
            assert(accepted[v] -> ran[v] == 1 : ran[v] == 0);       /* P2            */
            v++
        :: else -> break
        od;
        p = 0;
        do
        :: p < NPROD ->
            assert(registered[p] == (inR[p] || dropped[p]));        /* P3            */
            assert(!inR[p] || lane_closed[p]);                      /* P3: closed    */
            p++
        :: else -> break
        od;
        assert(head == CLOSED && pending_writes == 0 && unconsumed == 0);
        v = 0; p = 0
    }
}
