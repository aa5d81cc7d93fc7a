#!/usr/bin/env python3
"""Thread-scaling sweep for Python's event loops: the asyncio / uvloop peer of MultiLoop's sweep.

Every workload runs the loops the way MultiLoop runs them: each event loop owns one OS thread
(loop.run_forever() on a threading.Thread), and other threads hand it work with
loop.call_soon_threadsafe(). The output is the shared scaling CSV
(workload,peer,threads,ops,seconds,ops_per_sec,p50_us,p99_us,repeats,cores), one row per
(workload, peer, threads) point: the median of --repeats runs by ops_per_sec.

The coroutine workloads (tasks, gather, switch) run one driver coroutine per loop, started on
that loop with asyncio.run_coroutine_threadsafe(); everything they measure then happens inside
the loop, with no cross-thread hand-over.

Every run checks its own result (every item, hop, timer, task result and switch is counted; a
cancelled timer must never fire). A failed check stops the script with exit status 1 and writes
no CSV, so a wrong figure is never printed. Usage errors exit 2, as does a missing uvloop
(unless only asyncio was asked for).
"""

import argparse
import asyncio
import gc
import math
import os
import sys
import textwrap
import threading
import time

PEERS = ("asyncio", "uvloop")
WORKLOADS = ("fan-in", "ring", "timers", "tasks", "gather", "switch")
CSV_HEADER = "workload,peer,threads,ops,seconds,ops_per_sec,p50_us,p99_us,repeats,cores"

# Op counts at --scale 1.0 (each is multiplied by --scale, with a floor of MIN_OPS).
FAN_IN_ITEMS = 400_000
RING_HOPS = 100_000
TIMERS = 1_000_000
TASKS = 200_000
GATHER_CHILDREN = 200_000
SWITCHES = 1_000_000
MIN_OPS = 1000

# gather: children per asyncio.gather() call (the last batch of a loop's share may be smaller).
GATHER_BATCH = 1000

# A run that has not finished after this many seconds (times --scale when above 1) is
# reported as a failure instead of hanging the sweep.
RUN_TIMEOUT_S = 300.0

# Timer delays: (i % 1000) microseconds, precomputed so that the scheduling loop does no float
# arithmetic of its own.
TIMER_DELAYS = tuple((i % 1000) * 1e-6 for i in range(1000))


class BenchmarkError(Exception):
    """A failed self-check or a run that did not finish: exit 1, no figure."""


# --------------------------------------------------------------------------------------------
# Loop threads
# --------------------------------------------------------------------------------------------

class LoopThread:
    """One event loop running run_forever() on its own thread.

    The loop is created inside that thread (so it never belongs to the main thread) and closed
    there once run_forever() returns. start() returns once the loop is running; stop() asks it
    to stop, joins the thread and fails if the thread does not end.
    """

    def __init__(self, factory, name, errors):
        self._factory = factory
        self._errors = errors            # shared list: any exception in a loop lands here
        self._running = threading.Event()
        self.loop = None
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _on_error(self, loop, context):
        # Without this handler, an exception in a callback would only be logged and the run
        # would hang waiting for a count that never arrives.
        self._errors.append("%s: %s" % (self.thread.name,
                                        context.get("exception") or context.get("message")))

    def _main(self):
        try:
            loop = self._factory()
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._errors.append("%s: cannot create loop: %r" % (self.thread.name, exc))
            self._running.set()
            return
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._on_error)
        self.loop = loop
        loop.call_soon(self._running.set)   # runs once run_forever() has started
        try:
            loop.run_forever()
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def start(self):
        self.thread.start()
        if not self._running.wait(30) or self.loop is None:
            raise BenchmarkError("%s did not start: %s" % (self.thread.name, self._errors))

    def stop(self, after=0.0):
        """Stop the loop (after `after` seconds of loop time), join its thread."""
        if self.loop is None:
            return
        if self.thread.is_alive():
            if after > 0:
                self.loop.call_soon_threadsafe(self.loop.call_later, after, self.loop.stop)
            else:
                self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        if self.thread.is_alive():
            raise BenchmarkError("%s did not stop" % self.thread.name)


def start_loops(factory, count, errors, prefix="loop"):
    loops = []
    try:
        for i in range(count):
            lt = LoopThread(factory, "%s-%d" % (prefix, i), errors)
            loops.append(lt)
            lt.start()
    except BaseException:
        stop_loops(loops)
        raise
    return loops


def stop_loops(loops, after=0.0):
    failures = []
    for lt in loops:
        try:
            lt.stop(after)
        except BenchmarkError as exc:
            failures.append(str(exc))
    if failures:
        raise BenchmarkError("; ".join(failures))


def wait_for(event, deadline, errors, what):
    """Wait for `event`, failing early if a loop or producer reported an error."""
    while not event.wait(0.1):
        if errors:
            raise BenchmarkError("%s: %s" % (what, "; ".join(errors)))
        if time.monotonic() > deadline:
            raise BenchmarkError("%s: did not finish within the time limit" % what)
    if errors:
        raise BenchmarkError("%s: %s" % (what, "; ".join(errors)))


def split(total, parts):
    """`total` split into `parts` shares; the remainder goes to the first shares."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# --------------------------------------------------------------------------------------------
# fan-in: `threads` producer threads -> ONE loop
# --------------------------------------------------------------------------------------------

class FanInCounter:
    """Lives on the loop thread: counts what each producer delivered."""

    def __init__(self, items, producers):
        self.target = items
        self.count = 0
        self.per_producer = [0] * producers
        self.t_end = None
        self.done = threading.Event()

    def deliver(self, producer):
        # The callback every producer hands to the loop: a plain bound method (fetched once
        # per producer, so nothing is allocated per call on that account) taking a per-call
        # argument, the producer's index.
        self.per_producer[producer] += 1
        count = self.count + 1
        self.count = count
        if count == self.target:
            self.t_end = time.perf_counter()   # the last callback ran: the clock stops here
            self.done.set()


def run_fan_in(factory, threads, items, deadline):
    """Returns (ops, seconds, None, None).

    Measures how fast `threads` threads can hand small callbacks to one loop, end to end: the
    clock starts when all producers are released at once and stops when the loop has run the
    last callback, so it includes the loop draining what is queued, not just the submit calls.
    """
    errors = []
    (lt,) = start_loops(factory, 1, errors, "fan-in-loop")
    counter = FanInCounter(items, threads)
    shares = split(items, threads)
    start = {}

    def record_start():
        # Barrier action: runs once, after every party has arrived and before any is released,
        # so no producer can have submitted anything before t0.
        start["t0"] = time.perf_counter()

    barrier = threading.Barrier(threads + 1, action=record_start)

    def produce(index, share):
        try:
            submit = lt.loop.call_soon_threadsafe
            deliver = counter.deliver
            barrier.wait(60)
            for _ in range(share):
                submit(deliver, index)
        except BaseException as exc:  # noqa: BLE001 - reported through `errors`
            errors.append("producer %d: %r" % (index, exc))
            barrier.abort()
            counter.done.set()

    producers = [threading.Thread(target=produce, args=(i, shares[i]), name="producer-%d" % i,
                                  daemon=True) for i in range(threads)]
    try:
        for p in producers:
            p.start()
        try:
            barrier.wait(60)   # the main thread is a party too: it knows when t0 was taken
        except threading.BrokenBarrierError:
            raise BenchmarkError("fan-in: producers did not start: %s" % errors)
        wait_for(counter.done, deadline, errors, "fan-in")
    finally:
        for p in producers:
            p.join(60)
        # call_soon_threadsafe keeps order, so a stop queued after the last submit runs after
        # every callback: a count above `items` would show up in the checks below.
        stop_loops([lt])
    if any(p.is_alive() for p in producers):
        raise BenchmarkError("fan-in: a producer thread did not end")
    if errors:
        raise BenchmarkError("fan-in: %s" % "; ".join(errors))
    if counter.count != items:
        raise BenchmarkError("fan-in: %d callbacks ran, expected %d" % (counter.count, items))
    if counter.per_producer != shares:
        raise BenchmarkError("fan-in: per-producer counts %s, expected %s"
                             % (counter.per_producer, shares))
    return items, counter.t_end - start["t0"], None, None


# --------------------------------------------------------------------------------------------
# ring: one token hops around `threads` loops
# --------------------------------------------------------------------------------------------

class Ring:
    """One token passed loop i -> loop (i + 1) % N with call_soon_threadsafe, `hops` times."""

    def __init__(self, loops, hops):
        self.submit = [lt.loop.call_soon_threadsafe for lt in loops]
        self.n = len(loops)
        self.hops = hops
        self.count = 0
        self.samples = [0] * hops          # latency of each hop, in ns
        self.t0 = None
        self.t_end = None
        self.done = threading.Event()
        self._hop = self.hop               # one bound method for the whole run

    def begin(self):
        # Runs on loop 0: the clock starts just before the first send.
        self.t0 = time.perf_counter()
        self.submit[1](self._hop, 1, time.perf_counter_ns())

    def hop(self, here, sent_ns):
        # Runs on loop `here`. Only the loop holding the token touches this object, and each
        # hand-over goes through call_soon_threadsafe's lock, so plain fields suffice.
        arrived = time.perf_counter_ns()
        k = self.count
        if k >= self.hops:
            raise RuntimeError("ring: token arrived after the last hop")
        self.samples[k] = arrived - sent_ns
        k += 1
        self.count = k
        if k == self.hops:
            self.t_end = time.perf_counter()
            self.done.set()
            return
        nxt = here + 1
        if nxt == self.n:
            nxt = 0
        self.submit[nxt](self._hop, nxt, time.perf_counter_ns())


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def run_ring(factory, threads, hops, deadline):
    """Returns (ops, seconds, p50_us, p99_us).

    Measures the cross-thread wake-up: every hop is one call_soon_threadsafe to a loop that is
    (almost always) asleep in epoll, and nothing else runs, so hops/s is 1 / (hand-over +
    wake-up + callback). Latency of a hop = arrival time minus the time the sender took just
    before call_soon_threadsafe; the first 1% of samples are dropped as warm-up.
    """
    errors = []
    loops = start_loops(factory, threads, errors, "ring-loop")
    ring = Ring(loops, hops)
    try:
        loops[0].loop.call_soon_threadsafe(ring.begin)
        wait_for(ring.done, deadline, errors, "ring")
    finally:
        stop_loops(loops)
    if errors:
        raise BenchmarkError("ring: %s" % "; ".join(errors))
    if ring.count != hops:
        raise BenchmarkError("ring: %d hops, expected %d" % (ring.count, hops))
    samples = sorted(ring.samples[hops // 100:])
    if not samples or samples[0] < 0:
        raise BenchmarkError("ring: bad latency samples")
    return (hops, ring.t_end - ring.t0,
            percentile(samples, 0.50) / 1000.0, percentile(samples, 0.99) / 1000.0)


# --------------------------------------------------------------------------------------------
# timers: schedule / cancel half / fire the rest, on `threads` loops
# --------------------------------------------------------------------------------------------

class TimerShare:
    """One loop's share of the timers; lives on that loop's thread."""

    def __init__(self, loop, share):
        self.loop = loop
        self.share = share
        # Even indices are cancelled (as on the Swift side), odd ones fire.
        self.cancelled = (share + 1) // 2
        self.expected = share - self.cancelled
        self.fired = 0
        self.cancelled_fired = 0
        self.t_end = None
        self.done = threading.Event()

    def schedule(self, barrier):
        # Runs on the loop. Every loop waits here until all are ready (the barrier's action
        # takes t0), then schedules its whole share from inside the loop, cancelling every
        # second handle (the even indices) right after scheduling it.
        barrier.wait(60)
        call_later = self.loop.call_later
        fire = self.fire
        delays = TIMER_DELAYS
        for i in range(self.share):
            handle = call_later(delays[i % 1000], fire, i)
            if not i & 1:
                handle.cancel()
        if self.expected == 0:
            self.t_end = time.perf_counter()
            self.done.set()

    def fire(self, i):
        if not i & 1:
            self.cancelled_fired += 1         # a cancelled timer ran: reported after the run
        fired = self.fired + 1
        self.fired = fired
        if fired == self.expected:
            self.t_end = time.perf_counter()  # this loop's last live timer fired
            self.done.set()


def run_timers(factory, threads, timers, deadline):
    """Returns (ops, seconds, None, None).

    Measures timer bookkeeping: scheduling, cancelling and firing on the loop thread, with the
    delays (0-999 us) short enough that the wall clock is dominated by the loop's own work,
    not by waiting. The clock starts when every loop is released to schedule its share and
    stops when the last live timer of the slowest loop has fired.
    """
    errors = []
    loops = start_loops(factory, threads, errors, "timer-loop")
    shares = [TimerShare(lt.loop, n) for lt, n in zip(loops, split(timers, threads))]
    start = {}

    def record_start():
        start["t0"] = time.perf_counter()

    barrier = threading.Barrier(threads, action=record_start)
    try:
        for lt, share in zip(loops, shares):
            lt.loop.call_soon_threadsafe(share.schedule, barrier)
        for share in shares:
            wait_for(share.done, deadline, errors, "timers")
    finally:
        # Keep the loops running 5 ms longer than the longest delay (1 ms), so that a cancelled
        # timer that wrongly fires would do so before the check below.
        stop_loops(loops, after=0.005)
    if errors:
        raise BenchmarkError("timers: %s" % "; ".join(errors))
    for i, share in enumerate(shares):
        if share.cancelled_fired:
            raise BenchmarkError("timers: %d cancelled timers fired on loop %d"
                                 % (share.cancelled_fired, i))
        if share.fired != share.expected:
            raise BenchmarkError("timers: loop %d fired %d timers, expected %d (%d scheduled, "
                                 "%d cancelled)" % (i, share.fired, share.expected, share.share,
                                                    share.cancelled))
    return timers, max(s.t_end for s in shares) - start["t0"], None, None


# --------------------------------------------------------------------------------------------
# tasks, gather, switch: one driver coroutine on each of `threads` loops
# --------------------------------------------------------------------------------------------

async def child():
    return 1


async def tasks_body(share):
    """Creates and awaits `share` tasks, one at a time; returns the sum of their results."""
    create_task = asyncio.create_task
    total = 0
    for _ in range(share):
        total += await create_task(child())
    return total


async def gather_body(share):
    """Gathers `share` child coroutines in batches of GATHER_BATCH; returns the sum of results."""
    gather = asyncio.gather
    total = 0
    left = share
    while left:
        batch = min(GATHER_BATCH, left)
        results = await gather(*[child() for _ in range(batch)])
        if len(results) != batch:
            raise RuntimeError("gather returned %d results for %d children"
                               % (len(results), batch))
        total += sum(results)
        left -= batch
    return total


async def switch_body(share):
    """Yields to the loop `share` times with sleep(0); returns how many times it came back."""
    sleep = asyncio.sleep
    count = 0
    for _ in range(share):
        await sleep(0)
        count += 1
    return count


class Driver:
    """One loop's driver coroutine and its result; `done` is set once it returned or failed."""

    def __init__(self, share):
        self.share = share
        self.result = None
        self.t_end = None
        self.future = None             # the concurrent.futures.Future of run_coroutine_threadsafe
        self.done = threading.Event()

    async def drive(self, barrier, body):
        # Runs on the loop. Every loop's driver waits here (blocking its loop, which has nothing
        # else to do) until all are ready; the barrier's action takes t0.
        barrier.wait(60)
        result = await body(self.share)
        self.t_end = time.perf_counter()   # this loop's share is done: its clock stops here
        self.result = result


def run_drivers(name, body, factory, threads, ops, deadline):
    """Returns (ops, seconds, None, None) for one coroutine workload.

    `ops` is split over `threads` loops; each loop runs one driver coroutine that awaits
    `body(share)`, which must return `share`. The drivers are released together by a barrier
    (its action takes t0); the clock stops when the last driver has finished. A driver that
    raises, returns a wrong count or does not finish before `deadline` is a BenchmarkError.
    """
    errors = []
    loops = start_loops(factory, threads, errors, "%s-loop" % name)
    drivers = [Driver(n) for n in split(ops, threads)]
    start = {}

    def record_start():
        start["t0"] = time.perf_counter()

    barrier = threading.Barrier(threads, action=record_start)
    finished = False
    try:
        for lt, driver in zip(loops, drivers):
            driver.future = asyncio.run_coroutine_threadsafe(driver.drive(barrier, body),
                                                             lt.loop)
            driver.future.add_done_callback(lambda _, done=driver.done: done.set())
        for driver in drivers:
            wait_for(driver.done, deadline, errors, name)
        finished = True
    finally:
        if not finished:
            # A driver failed or hangs: cancel the rest, and give the cancellations a moment to
            # run on their loops before those stop.
            barrier.abort()
            for driver in drivers:
                if driver.future is not None:
                    driver.future.cancel()
        stop_loops(loops, after=0.0 if finished else 0.05)
    if errors:
        raise BenchmarkError("%s: %s" % (name, "; ".join(errors)))
    for i, driver in enumerate(drivers):
        if driver.future.cancelled():
            raise BenchmarkError("%s: the driver on loop %d was cancelled" % (name, i))
        exc = driver.future.exception(0)
        if exc is not None:
            raise BenchmarkError("%s: the driver on loop %d failed: %r" % (name, i, exc))
        if driver.result != driver.share:
            raise BenchmarkError("%s: the driver on loop %d counted %r, expected %d"
                                 % (name, i, driver.result, driver.share))
    return ops, max(d.t_end for d in drivers) - start["t0"], None, None


def run_tasks(factory, threads, tasks, deadline):
    """Returns (ops, seconds, None, None).

    Measures task creation and completion: each loop's driver does
    `total += await asyncio.create_task(child())` for its share, one task at a time (child()
    returns 1), so every op is one task created, scheduled, run and awaited.
    """
    return run_drivers("tasks", tasks_body, factory, threads, tasks, deadline)


def run_gather(factory, threads, children, deadline):
    """Returns (ops, seconds, None, None).

    Measures asyncio.gather: each loop's driver gathers its share of child() coroutines in
    batches of GATHER_BATCH (gather wraps each in a task) and sums the results. ops = children.
    """
    return run_drivers("gather", gather_body, factory, threads, children, deadline)


def run_switch(factory, threads, switches, deadline):
    """Returns (ops, seconds, None, None).

    Measures a task switch: each loop's driver does its share of `await asyncio.sleep(0)`, i.e.
    the task yields, goes back on the ready queue and is resumed by the loop. ops = switches.
    """
    return run_drivers("switch", switch_body, factory, threads, switches, deadline)


# --------------------------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------------------------

RUNNERS = {"fan-in": run_fan_in, "ring": run_ring, "timers": run_timers, "tasks": run_tasks,
           "gather": run_gather, "switch": run_switch}


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(cores):
    counts, n = [], 1
    while n <= 2 * cores:
        counts.append(n)
        n *= 2
    return counts


def op_counts(scale):
    return {
        "fan-in": max(MIN_OPS, int(FAN_IN_ITEMS * scale)),
        "ring": max(MIN_OPS, int(RING_HOPS * scale)),
        "timers": max(MIN_OPS, int(TIMERS * scale)),
        "tasks": max(MIN_OPS, int(TASKS * scale)),
        "gather": max(MIN_OPS, int(GATHER_CHILDREN * scale)),
        "switch": max(MIN_OPS, int(SWITCHES * scale)),
    }


def loop_factory(peer):
    if peer == "asyncio":
        return asyncio.new_event_loop
    import uvloop  # checked in main()
    return uvloop.new_event_loop


def measure_point(workload, peer, threads, ops, repeats, scale):
    """Runs one point `repeats` times; returns the median run (by ops_per_sec)."""
    runner, factory = RUNNERS[workload], loop_factory(peer)
    baseline_threads = threading.active_count()
    runs = []
    for _ in range(repeats):
        gc.collect()   # start every run with the same (empty) GC backlog
        deadline = time.monotonic() + RUN_TIMEOUT_S * max(1.0, scale)
        n, seconds, p50, p99 = runner(factory, threads, ops, deadline)
        if seconds <= 0:
            raise BenchmarkError("%s: non-positive duration %r" % (workload, seconds))
        if threading.active_count() != baseline_threads:
            raise BenchmarkError("%s/%s/%d: %d threads left running after the run"
                                 % (workload, peer, threads,
                                    threading.active_count() - baseline_threads))
        runs.append((n / seconds, n, seconds, p50, p99))
    runs.sort(key=lambda r: r[0])
    # The middle run; the upper middle when repeats is even, as the Swift sweep picks it.
    return runs[len(runs) // 2]


def fmt_latency(value):
    return "" if value is None else "%.2f" % value   # 2 decimals, as the Swift rows


def parse_list(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError("empty %s list" % what)
    for item in items:
        if item not in allowed:
            raise argparse.ArgumentTypeError("unknown %s %r (choose from %s)"
                                             % (what, item, ", ".join(allowed)))
    return list(dict.fromkeys(items))


def parse_threads(text):
    try:
        counts = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--threads wants integers, e.g. 1,2,4")
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError("--threads wants integers >= 1, e.g. 1,2,4")
    return list(dict.fromkeys(counts))


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("not a number: %r" % text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be > 0: %r" % text)
        return value
    return parse


def build_parser(cores):
    counts = op_counts(1.0)
    parser = argparse.ArgumentParser(
        description=textwrap.fill(
            "Thread-scaling sweep of asyncio and uvloop event loops, the Python peer of "
            "MultiLoop's sweep. Each loop runs run_forever() on its own thread; other threads "
            "reach it with call_soon_threadsafe() (or, for the coroutine workloads, start one "
            "driver coroutine on it with run_coroutine_threadsafe()). Writes the shared "
            "scaling CSV (header: "
            + CSV_HEADER + "), one row per (workload, peer, threads): the median of --repeats "
            "runs by ops_per_sec. Every run checks its counts; a failed check exits 1 and "
            "writes no CSV. Progress goes to stderr.", width=88),
        epilog=(
            "workloads:\n"
            "  fan-in  THREADS producer threads, released together by a barrier, call\n"
            "          call_soon_threadsafe(cb, producer_index) on ONE loop, %d items in all\n"
            "          (split evenly). Timed from the release until the loop ran the last\n"
            "          callback. ops = items.\n"
            "  ring    THREADS loops (>= 2; threads=1 is skipped) pass one token around a ring,\n"
            "          loop i -> loop (i+1) %% N, %d hops. ops = hops; p50_us/p99_us = latency\n"
            "          of one hop (send to callback start), first 1%% dropped as warm-up.\n"
            "  timers  %d timers split over THREADS loops; each loop schedules its share\n"
            "          with call_later((i %% 1000) us) from a callback, cancels every second\n"
            "          handle at once, and the rest fire. Timed from the start until every\n"
            "          live timer on every loop fired. ops = timers scheduled.\n"
            "  tasks   %d tasks split over THREADS loops; one driver coroutine per loop does\n"
            "          total += await asyncio.create_task(child()) for its share, one task at\n"
            "          a time (child() returns 1). ops = tasks.\n"
            "  gather  %d child() coroutines split over THREADS loops; each loop's driver does\n"
            "          await asyncio.gather(*[child() ...]) in batches of %d and sums the\n"
            "          results. ops = children.\n"
            "  switch  %d switches split over THREADS loops; each loop's driver does its\n"
            "          share of await asyncio.sleep(0). ops = switches.\n"
            "          For these three, the drivers (started with run_coroutine_threadsafe) are\n"
            "          released together; timed until the last driver finished; each driver's\n"
            "          sum or count must equal its share.\n"
            "counts are multiplied by --scale (at least %d each).\n\n"
            "exit status: 0 ok; 1 a self-check failed or a run hung; 2 usage error or uvloop\n"
            "missing while asked for." % (counts["fan-in"], counts["ring"], counts["timers"],
                                          counts["tasks"], counts["gather"], GATHER_BATCH,
                                          counts["switch"], MIN_OPS)),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", metavar="PATH",
                        help="write the CSV to PATH (default: stdout)")
    parser.add_argument("--threads", type=parse_threads, metavar="N,N,...",
                        default=default_threads(cores),
                        help="thread counts to sweep (default: 1, 2, 4, ... doubling up to 2x "
                             "the usable CPUs; here %s)"
                             % ",".join(map(str, default_threads(cores))))
    parser.add_argument("--repeats", type=positive(int), default=3, metavar="N",
                        help="runs per point; the median run is written (default: 3)")
    parser.add_argument("--impl", type=lambda s: parse_list(s, PEERS, "impl"),
                        default=list(PEERS), metavar="LIST",
                        help="event loops to measure, of asyncio,uvloop (default: both). "
                             "Written as the CSV's peer column.")
    parser.add_argument("--workloads", type=lambda s: parse_list(s, WORKLOADS, "workload"),
                        default=list(WORKLOADS), metavar="LIST",
                        help="workloads, of %s (default: all)" % ",".join(WORKLOADS))
    parser.add_argument("--scale", type=positive(float), default=1.0, metavar="FLOAT",
                        help="multiplies every op count (default: 1.0)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr")
    return parser


def main(argv=None):
    cores = usable_cpus()
    args = build_parser(cores).parse_args(argv)

    if "uvloop" in args.impl:
        try:
            import uvloop  # noqa: F401
        except ImportError as exc:
            print("asyncio_scaling.py: uvloop cannot be imported (%s). Install it "
                  "(pip install -r Benchmarks/python/requirements.txt) or pass --impl asyncio."
                  % exc, file=sys.stderr)
            return 2

    def progress(text):
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    counts = op_counts(args.scale)
    rows = []
    started = time.monotonic()
    try:
        for workload in args.workloads:
            for peer in args.impl:
                for threads in args.threads:
                    if workload == "ring" and threads < 2:
                        continue   # a ring needs two loops; the schema has no threads=1 row
                    ops_per_sec, ops, seconds, p50, p99 = measure_point(
                        workload, peer, threads, counts[workload], args.repeats, args.scale)
                    rows.append("%s,%s,%d,%d,%.6f,%.1f,%s,%s,%d,%d" % (
                        workload, peer, threads, ops, seconds, ops_per_sec,
                        fmt_latency(p50), fmt_latency(p99), args.repeats, cores))
                    latency = "" if p50 is None else "  p50 %.1f us  p99 %.1f us" % (p50, p99)
                    progress("%-7s %-8s threads=%-3d %12.0f ops/s  (%d ops in %.3f s)%s"
                             % (workload, peer, threads, ops_per_sec, ops, seconds, latency))
    except BenchmarkError as exc:
        print("asyncio_scaling.py: FAILED: %s" % exc, file=sys.stderr)
        return 1

    text = CSV_HEADER + "\n" + "".join(row + "\n" for row in rows)
    if args.csv:
        tmp = args.csv + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.csv)   # the file appears whole, or not at all
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    progress("done: %d points in %.1f s (cores=%d)" % (len(rows), time.monotonic() - started,
                                                        cores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
