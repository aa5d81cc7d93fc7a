/*
 * recycler.pml -- Spin model of MultiLoop's handle recycler (HandleRecycler.swift):
 * a Treiber stack of spare closure handles in one machine word `head`, with one
 * pusher (the loop thread, `give`) and take-all poppers (`takeAll`), plus the budget
 * that bounds the bin. The code keeps one stack per lane, taken from by that lane's
 * producer only (NP=1, LK=0 here: `recycler-one-lane` in check.sh); the model also
 * checks 2 and 3 takers, as in the earlier design of one stack per loop.
 *
 *   head == 0        the bin is empty
 *   head == h        handle h is the newest spare; next[h] is the previous head (0: none)
 *
 * Life cycle of a handle id h (owner[h], exactly one at any time):
 *   FREE        not allocated (never, or freed); malloc may hand out the same id again
 *   HELD(t)     thread t took it (from its cache, or allocated it) and writes the callback
 *               (transient: inside the one step that also pushes it)
 *   INFLIGHT    pushed to the loop's inbox (modelled as a FIFO channel, not the inbox protocol)
 *   RUNNING(l)  loop l received it, runs it, then recycles it
 *   BIN         in the recycler's chain
 *   CACHE(t)    in thread t's private cache (a chain taken by takeAll, walked privately)
 *
 * Processes:
 *   Producer(t)  NP of them; each submits K callbacks (callSoon from another thread):
 *                HandleCache.take(refillingFrom:) -- takeAll when the cache is empty --
 *                or a new ClosureHandle; push to the inbox. At exit the thread's cache
 *                is released (HandleCache.deinit).
 *   Loop(l)      the loop thread (NL = 1): runs what arrives, recycles each handle
 *                (`EventLoop.recycle`: give with the budget, unless the caller of
 *                callSoon still holds a reference), and itself makes LK submissions
 *                (callSoon from a callback: it is a taker too, with its own cache).
 *
 * Properties (numbers as in README.md):
 *   P1 single owner     every transfer asserts the previous owner (move()).
 *   P2 no ABA, no loss  after every step that changes `head`: the chain from head is a
 *                       list of distinct handles (no cycle), exactly the handles owned by
 *                       BIN, exactly those given since the last successful take (ghost
 *                       `givenmask`), of length `binsize`; a take gets exactly that set.
 *   P3 bound            binsize <= BOUND (default CAP), and binsize + budget <= CAP
 *                       (the invariant behind the bound) while one loop gives.
 *   P4 termination      no invalid end state; at the end every submission ran once and
 *                       every handle is FREE or in the bin (the chain), nothing else.
 *
 * Build-time switches:
 *   -DNP=n -DK=n -DLK=n -DCAP=n -DNH=n   sizes (defaults 2, 3, 1, 2, NP*K+LK)
 *   -DBOUND=n                 assert binsize <= n instead of CAP (BOUND=CAP-1 must FAIL:
 *                             the bound CAP is reached)
 *   -DNOTUNIQUE=0             the loop always recycles (never finds the handle still
 *                             referenced by the caller of callSoon)
 *   -DBROKEN_POP_ONE          BROKEN: takers pop one node, CAS(head, old, old.next):
 *                             the classic ABA; must FAIL
 *   -DBROKEN_TWO_GIVERS       BROKEN: two loop threads (each with its own budget) give
 *                             to one recycler; must FAIL (the bound)
 *   -DNO_BOUND_CHECK          drop P3 (with BROKEN_TWO_GIVERS: the stack itself stays
 *                             correct with two pushers; must pass)
 *   -DASSERT_NO_ABA           assert that no CAS succeeds on a head that changed since
 *                             its thread loaded it; must FAIL (ABA on head is reached,
 *                             and survived: see below)
 *
 * Granularity: every access to the shared word `head` (a load, a CAS) is one atomic
 * step (a d_step), and so is every hand-over of a handle (inbox push / receive, a free
 * by the loop). Thread-private work is folded into an adjacent step of the same
 * thread: writing handle.next into the CAS of give (the handle is not published
 * yet), walking a taken chain into the CAS of takeAll, unlinking from the private
 * cache or malloc, and writing the callback, into the push. The broken pop-one taker
 * reads old.next as a step of its own: that node is not its own, which is the bug.
 *
 * Memory model: as in inbox.pml, sequential consistency is sound here. Every decision
 * is a CAS on the one word `head`; RMWs on one location are totally ordered and read
 * the latest value (C11), so the relaxed loads are hints that a failed CAS corrects.
 * The one relaxed load that decides something, give's "budget spent: is the bin
 * empty?", cannot read a stale 0: the loop thread's own last CAS on head precedes it,
 * so by write-read coherence it reads that value or a later one, and only takes write
 * later values (0). A stale non-zero read would only free a handle. handle.next and
 * the reset fields are published by give's release CAS and read after takeAll's
 * acquire CAS (all earlier gives precede the last one in the loop thread).
 */

#ifndef NP
#define NP 2                    /* producer threads                                  */
#endif
#ifndef K
#define K 3                     /* submissions per producer                          */
#endif
#ifndef LK
#define LK 1                    /* submissions by the loop thread (from a callback)  */
#endif
#ifndef CAP
#define CAP 2                   /* HandleRecycler.capacity (1024 in the code)        */
#endif
#ifndef BOUND
#define BOUND CAP
#endif
#ifndef NOTUNIQUE
#define NOTUNIQUE 1
#endif
#ifdef BROKEN_TWO_GIVERS
#define NL 2                    /* loop threads giving to the one recycler           */
#else
#define NL 1
#endif
#ifndef NH
#define NH (NP*K + NL*LK)       /* handle ids 1..NH: one per submission, so malloc is
                                   never out of ids (a model artifact otherwise)     */
#endif
#if NH > 8
#error "NH > 8: extend the NB and NEW lists below"
#endif

#define NT (NP + NL)            /* threads that take: producers 0..NP-1, loops NP..  */

/* owners */
#define FREE        0
#define BIN         1
#define INFLIGHT    2
#define RUNNING(l)  (3 + (l))
#define CACHE(t)    (3 + NL + (t))
#define HELD(t)     (3 + NL + NT + (t))

#define bit(h)      (1 << (h))

/* ---- shared state of the protocol ---------------------------------------- */
byte head = 0;                  /* the recycler's word                               */
byte next[NH + 1];              /* handle.inboxNext (0 = nil); next[0] unused        */
chan inbox = [NH] of { byte };  /* the hand-over to the loop, FIFO; never full       */

/* ---- thread-private state (global so that assertions and malloc see it) --- */
byte cache[NT];                 /* HandleCache.chain of each thread: first handle    */
byte budget[NL] = CAP;          /* EventLoop.recycleBudget (starts at capacity)      */
byte old[NT];                   /* the value of head a thread's next CAS expects     */
#ifdef BROKEN_POP_ONE
byte nxt[NT];                   /* old.next as the broken taker read it              */
#endif

/* ---- ghost state ---------------------------------------------------------- */
byte owner[NH + 1];
short givenmask = 0;            /* handles given since the last successful take      */
byte binsize = 0;               /* their number                                      */
byte ran = 0;                   /* handles run by the loop(s)                        */
byte pdone = 0;                 /* producers finished                                */
byte ldone = 0;                 /* loops finished                                    */

/* scratch (not part of the state vector; always used inside one d_step) */
hidden byte wk, wl, ii;
hidden short wm, om;

/* -DASSERT_NO_ABA: ghost version of head, bumped by every write of head, and the
   version each thread saw when it loaded the value its next CAS expects. Asserting
   that no CAS succeeds after head changed since must FAIL: the model does reach ABA
   on head (a take's CAS succeeds on a head that was taken and given back since the
   taker loaded it), and the other checks show it is harmless there. */
#ifdef ASSERT_NO_ABA
byte hv = 0;
byte ov[NT];
#define SAW(t)      ov[t] = hv
#define WROTE       hv++
#define NO_ABA(t)   assert(ov[t] == hv)
#else
#define SAW(t)      skip
#define WROTE       skip
#define NO_ABA(t)   skip
#endif

/* P1: every change of owner names the owner it expects. */
inline move(x, from, to) {
    assert(x >= 1 && x <= NH);
    assert(owner[x] == from);
    owner[x] = to
}

/* P2 + P3, after every step that changes `head` or the bin's content. */
inline check_bin() {
    d_step {
        wm = 0; wl = 0; wk = head;
        do
        :: wk == 0 -> break
        :: else ->
            assert(wk <= NH && wl < NH && (wm & bit(wk)) == 0);   /* a list, no cycle */
            wm = wm | bit(wk); wl++; wk = next[wk]
        od;
        om = 0; ii = 1;
        do
        :: ii > NH -> break
        :: else -> if :: owner[ii] == BIN -> om = om | bit(ii) :: else fi; ii++
        od;
        assert(wm == om);               /* the chain is exactly what the bin owns   */
        assert(wm == givenmask);        /* ... exactly what was given since a take  */
        assert(wl == binsize);
#ifndef NO_BOUND_CHECK
        assert(binsize <= BOUND);       /* P3 */
#if NL == 1
        assert(binsize + budget[0] <= CAP);
#endif
#endif
        wk = 0; wl = 0; wm = 0; om = 0; ii = 0
    }
}

/* ---- takeAll: HandleRecycler.takeAll, into thread t's (empty) cache ------- */
#ifndef BROKEN_POP_ONE
inline take_all(t) {
    d_step { old[t] = head; SAW(t) }            /* ml_load_relaxed(head)          */
    do
    :: old[t] == 0 -> break                     /* nil: nothing to take           */
    :: d_step { old[t] != 0 && head == old[t] ->  /* CAS(head, old, 0) acquire: ok */
        NO_ABA(t); head = 0; WROTE;
        /* the taker now owns the whole chain: walk it (privately) */
        wm = 0; wl = 0; wk = old[t];
        do
        :: wk == 0 -> break
        :: else ->
            assert(wl < NH);
            move(wk, BIN, CACHE(t));            /* a repeat would fail here       */
            wm = wm | bit(wk); wl++; wk = next[wk]
        od;
        assert(wm == givenmask && wl == binsize);  /* P2: exactly what was given  */
        wm = 0; wl = 0; wk = 0;
        cache[t] = old[t]; old[t] = 0; givenmask = 0; binsize = 0;
        check_bin()
       }; break
    :: d_step { old[t] != 0 && head != old[t] ->  /* CAS failed: retry with the   */
        old[t] = head; SAW(t) }                 /* value it returned              */
    od
}
#else
/* BROKEN: pop a single node, CAS(head, old, old.next) -- the classic ABA. */
inline take_all(t) {
    d_step { old[t] = head; SAW(t) }
    do
    :: old[t] == 0 -> break
    :: old[t] != 0 ->
        nxt[t] = next[old[t]];                  /* old may be someone else's now  */
        if
        :: d_step { head == old[t] ->           /* CAS(head, old, nxt)            */
            NO_ABA(t); head = nxt[t]; WROTE;
            move(old[t], BIN, CACHE(t));
            next[old[t]] = 0; cache[t] = old[t];
            givenmask = givenmask & ~bit(old[t]); binsize--;
            old[t] = 0; nxt[t] = 0;
            check_bin()
           }; break
        :: d_step { head != old[t] -> old[t] = head; SAW(t); nxt[t] = 0 }
        fi
    od
}
#endif

/* ---- malloc -----------------------------------------------------------------
 * A new handle may get any FREE id. Two FREE ids are indistinguishable (owner FREE,
 * next 0, in no chain, cache, mask, channel or local h) unless a thread still names
 * one in a stale local (old, nxt: a head it loaded, which was taken, run and freed
 * since). So malloc may return any FREE id a stale local names (the address reuse
 * behind every ABA), or the lowest FREE id that none names: any other choice leads to
 * the same state up to renaming the ids, which no property depends on. */
#ifdef BROKEN_POP_ONE
#define NM(j, x)    (old[j] == (x) || nxt[j] == (x))
#else
#define NM(j, x)    (old[j] == (x))
#endif
#if NT == 2
#define NAMED(x)    (NM(0, x) || NM(1, x))
#elif NT == 3
#define NAMED(x)    (NM(0, x) || NM(1, x) || NM(2, x))
#elif NT == 4
#define NAMED(x)    (NM(0, x) || NM(1, x) || NM(2, x) || NM(3, x))
#elif NT == 5
#define NAMED(x)    (NM(0, x) || NM(1, x) || NM(2, x) || NM(3, x) || NM(4, x))
#else
#error "NT out of range: extend NAMED"
#endif
#define FU(x)       (owner[x] == FREE && !NAMED(x))     /* free and unnamed          */
#define NB1         1                                   /* no FU id below x          */
#define NB2         (NB1 && !FU(1))
#define NB3         (NB2 && !FU(2))
#define NB4         (NB3 && !FU(3))
#define NB5         (NB4 && !FU(4))
#define NB6         (NB5 && !FU(5))
#define NB7         (NB6 && !FU(6))
#define NB8         (NB7 && !FU(7))
#define CAND(x, nb) (owner[x] == FREE && (NAMED(x) || nb))

/* ---- one submission by thread t: callSoon -------------------------------- */
/* HandleCache.take's unlinkFirst, or ClosureHandle(...) (malloc id x); then write
   the callback into it and push it to the loop. All private to thread t except
   the push (and malloc): one step. */
#define NEW(x, nb)  :: d_step { cache[t] == 0 && CAND(x, nb) -> \
                        h = x; assert(next[h] == 0); move(h, FREE, HELD(t)); \
                        move(h, HELD(t), INFLIGHT); inbox!h; h = 0 }

inline submit(t) {
    /* refill only when the cache is empty */
    if
    :: cache[t] == 0 -> take_all(t)
    :: else
    fi;
    if
    :: d_step { cache[t] != 0 ->
        h = cache[t]; cache[t] = next[h]; next[h] = 0;
        move(h, CACHE(t), HELD(t));
        move(h, HELD(t), INFLIGHT); inbox!h; h = 0 }
    NEW(1, NB1)
#if NH >= 2
    NEW(2, NB2)
#endif
#if NH >= 3
    NEW(3, NB3)
#endif
#if NH >= 4
    NEW(4, NB4)
#endif
#if NH >= 5
    NEW(5, NB5)
#endif
#if NH >= 6
    NEW(6, NB6)
#endif
#if NH >= 7
    NEW(7, NB7)
#endif
#if NH >= 8
    NEW(8, NB8)
#endif
    fi                                          /* no FREE id: blocks (invalid end
                                                   state: the pool is too small)    */
}

/* thread exit: HandleCache.deinit releases the chain */
inline release_cache(t) {
    d_step {
        do
        :: cache[t] == 0 -> break
        :: else -> h = cache[t]; cache[t] = next[h]; next[h] = 0; move(h, CACHE(t), FREE)
        od;
        h = 0
    }
}

active [NP] proctype Producer() {
    byte t = _pid;                              /* threads 0..NP-1                */
    byte h;
    byte k = 0;
    do
    :: k < K -> submit(t); k++
    :: else -> break
    od;
    release_cache(t);
    d_step { pdone++; k = 0; t = 0 }
}

/* ---- give: HandleRecycler.give, by loop l (thread NP+l), of its handle h -- */
inline give(l) {
    if
    :: d_step { budget[l] == 0 && head != 0 ->  /* ml_load_relaxed(head) != 0:    */
        move(h, RUNNING(l), FREE); h = 0 }      /* not given, freed               */
    :: d_step { budget[l] == 0 && head == 0 ->  /* ml_load_relaxed(head) == 0:    */
        budget[l] = CAP }                       /* start counting again           */
    :: budget[l] > 0
    fi;
    if
    :: h != 0 ->
        d_step { old[NP + l] = head; SAW(NP + l) }  /* ml_load_relaxed(head)      */
        do
        :: d_step { head == old[NP + l] ->      /* handle.inboxNext = old;        */
            NO_ABA(NP + l);
            next[h] = old[NP + l]; head = h; WROTE; /* CAS(head, old, h) release: ok */
            move(h, RUNNING(l), BIN);
            givenmask = givenmask | bit(h); binsize++;
            if
            :: old[NP + l] == 0 -> budget[l] = CAP - 1
            :: else -> assert(budget[l] > 0); budget[l]--
            fi;
            old[NP + l] = 0; h = 0;
            check_bin()
           }; break
        :: d_step { head != old[NP + l] ->      /* CAS failed: retry with the     */
            old[NP + l] = head; SAW(NP + l) }   /* value it returned              */
        od
    :: else
    fi
}

active [NL] proctype Loop() {
    byte l = _pid - NP;                         /* thread NP + l                  */
    byte h;
    byte lk = 0;
    do
    :: d_step { inbox?h -> move(h, INFLIGHT, RUNNING(l)); ran++ }
        /* EventLoop.recycle */
        if
        :: give(l)
        :: NOTUNIQUE ->                         /* the caller of callSoon still holds */
            d_step { move(h, RUNNING(l), FREE); h = 0 }  /* it: not recycled, freed */
        fi
    :: lk < LK -> submit(NP + l); lk++          /* callSoon from a callback        */
    :: atomic { lk == LK && pdone == NP && empty(inbox) -> break }
    od;
    release_cache(NP + l);
    d_step {
        ldone++;
        if
        :: ldone == NL ->                       /* the last loop out: final checks */
            assert(ran == NP*K + NL*LK);        /* every submission ran once       */
            ii = 1;
            do
            :: ii > NH -> break
            :: else -> assert(owner[ii] == FREE || owner[ii] == BIN); ii++
            od;
            ii = 0;
            check_bin()                         /* and the bin is exactly its chain */
        :: else
        fi;
        lk = 0; l = 0
    }
}
