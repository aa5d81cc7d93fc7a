#!/usr/bin/env python3
"""Turn the thread-scaling sweep's CSV files into PNG plots and a markdown section.

Run it from the repository root with an interpreter that has matplotlib; the helper next to this
script prints one (it creates .build-python/venv and installs matplotlib there if needed, and falls
back to Debian's python3-matplotlib):

    PY=$(Benchmarks/python/ensure-python.sh) &&
    "$PY" Benchmarks/python/report.py SWEEP.csv PYTHON.csv \\
        --out-dir docs/scaling --markdown docs/benchmarks.md --section scaling --title "2-vCPU VM"

Input: one or more CSV files with the header
    workload,peer,threads,ops,seconds,ops_per_sec,p50_us,p99_us,repeats,cores
(the Swift sweep's and the Python one's); their rows are concatenated. A malformed file (wrong
header, wrong number of fields, a non-numeric field, an unknown workload, the same
workload/peer/threads twice, a file given twice) stops the script with exit status 1 and a message naming the file
and line. An unknown peer is only warned about (on stderr) and shown after the known ones.

Output:
  OUT-DIR/<workload>.png      fan-in, fan-out, all-to-all, futures, tasks, gather, switch, timers: ops/s
                              (tasks/s, switches/s) against threads, one line per peer (log y); only
                              the workloads present.
  OUT-DIR/ring-latency.png    one-hop latency p50 (solid) and p99 (dashed) against loops in the
                              ring, one colour per peer, the raw eventfd floor in black.
  OUT-DIR/ring-throughput.png hops/s against loops in the ring.
  OUT-DIR/results.csv         the merged rows, one header, sorted by workload, peer, threads.
  MARKDOWN                    everything between <!-- SECTION:begin --> and <!-- SECTION:end -->
                              is replaced by tables, image links and a table of targets; without
                              those markers, a heading "## Thread scaling (TITLE)" and the markers
                              are appended. Text outside the markers is never touched, and a second
                              run with the same data on the same day leaves the file unchanged
                              (and writes byte-identical PNGs).

The section: one line (machine, cores, date, command); per workload a table (rows = thread
count; each peer's ops/s; ratio columns ML/NIO, for fan-in also ML/asyncio and ML/uvloop, for
tasks, gather and switch also ML/floor and ML/uvloop, for all-to-all also "vs N x single" =
multiloop at N / (N x multiloop at 1); a ratio column only where multiloop and that peer both
have rows for the workload, a missing point shows as a dash); for the ring, p50 / p99 one-hop
latency per peer and ML p50 / floor p50; links to the PNGs relative to the markdown file; and a
Targets table, each row met, missed, or no data / not measured (a series it needs is absent):
  1   fan-in: multiloop >= 5 x nio at every thread count (the minimum ratio and where)
  2a  fan-in: multiloop >= 20 x asyncio at every thread count
  2b  fan-in: multiloop >= 20 x uvloop at every thread count
  3   all-to-all: multiloop at N = cores >= 0.8 x N x multiloop at 1
  3b  the same for multiloop-batched (only when it has all-to-all rows)
  4a  ring with 2 loops: multiloop p50 <= 1.1 x eventfd-floor p50
  4b  ring with 2 loops: multiloop p99 <= 1.1 x eventfd-floor p99
  5   tasks: multiloop >= 1.5 x nio at every loop count
  6a  tasks at 1 loop: multiloop >= 3 x uvloop
  6b  tasks at 1 loop: multiloop >= 10 x asyncio
  7a  switch at 1 loop: multiloop's time per switch <= 1.3 x floor's
  7b  switch at 1 loop: multiloop >= 3 x uvloop
  7c  switch at 1 loop: multiloop >= 1 x nio
  8   gather: multiloop >= 3 x uvloop at every loop count (per task)
  9   fan-in at 1 producer: multiloop-handle >= 0.7 x multiloop (callSoonThreadsafe vs execute)
"""

import argparse
import csv
import datetime
import math
import os
import sys

HEADER = ["workload", "peer", "threads", "ops", "seconds", "ops_per_sec", "p50_us", "p99_us",
          "repeats", "cores"]

WORKLOADS = ["fan-in", "fan-out", "all-to-all", "ring", "futures", "tasks", "gather", "switch",
             "timers"]
THROUGHPUT_WORKLOADS = ["fan-in", "fan-out", "all-to-all", "futures", "tasks", "gather", "switch",
                        "timers"]

# What each workload is (from the CSV schema) and what its thread count counts.
DESCRIPTION = {
    "fan-in": "N producer threads hand callbacks to one loop (execute, call_soon_threadsafe, async)",
    "fan-out": "one producer thread hands callbacks round-robin to N loops",
    "all-to-all": "N loops, each sending callbacks to every other loop",
    "ring": "N loops pass one token around a ring (N = 2: ping-pong)",
    "futures": "each of N loops asks the next loop for a value and waits for the answer (round trips)",
    "tasks": "on each of N loops, tasks created and awaited one at a time",
    "gather": "on each of N loops, tasks created a thousand at a time and awaited together (gather)",
    "switch": "task switches on each of N loops: a task yields (sleep(0)) and is resumed",
    "timers": "1M timers over N loops: schedule, cancel every second one, the rest fire",
}
# What one op is, where it is not just an operation (table headers and plot axes).
UNIT = {"tasks": "tasks", "gather": "tasks", "switch": "switches"}
THREADS_LABEL = {
    "fan-in": "producer threads",
    "fan-out": "loops",
    "all-to-all": "loops",
    "ring": "loops in the ring",
    "futures": "loops",
    "tasks": "loops",
    "gather": "loops",
    "switch": "loops",
    "timers": "loops",
}

PEERS = ["multiloop", "multiloop-handle", "multiloop-await", "multiloop-nospin", "multiloop-batched",
         "nio", "dispatch", "global-executor", "baseline", "eventfd-floor", "floor", "asyncio",
         "uvloop"]
PEER_STYLE = {  # colour, marker
    "multiloop": ("#1f77b4", "o"),
    "multiloop-handle": ("#aec7e8", "o"),
    "multiloop-await": ("#6baed6", "p"),
    "multiloop-nospin": ("#17becf", "v"),
    "multiloop-batched": ("#08519c", ">"),
    "nio": ("#ff7f0e", "s"),
    "dispatch": ("#2ca02c", "^"),
    "global-executor": ("#9467bd", "D"),
    "baseline": ("#7f7f7f", "P"),
    "eventfd-floor": ("#000000", "X"),
    "floor": ("#000000", "d"),
    "asyncio": ("#d62728", "*"),
    "uvloop": ("#8c564b", "h"),
}
PEER_LABEL = {"eventfd-floor": "raw eventfd floor", "floor": "runtime floor"}
FLOORS = ("eventfd-floor", "floor")   # drawn thicker, on top
EXTRA_COLOURS = ["#e377c2", "#bcbd22", "#ffbb78", "#98df8a"]

ML = "multiloop"
DASH = "—"


class DataError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading


def read_csvs(paths):
    """Returns the rows of all files as dicts (typed values, plus the original strings in 'raw')."""
    rows = []
    seen = {}
    given = set()
    for path in paths:
        real = os.path.realpath(path)
        if real in given:
            raise DataError(f"{path}: given twice")
        given.add(real)
        try:
            with open(path, newline="", encoding="utf-8") as f:
                lines = list(csv.reader(f))
        except OSError as e:
            raise DataError(f"{path}: cannot read: {e.strerror}")
        except (UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"{path}: not a readable CSV file: {e}")
        if not lines:
            raise DataError(f"{path}:1: empty file, expected the header {','.join(HEADER)}")
        header = [h.strip() for h in lines[0]]
        if header != HEADER:
            raise DataError(f"{path}:1: wrong header {','.join(lines[0])!r}; "
                            f"expected {','.join(HEADER)!r}")
        for lineno, fields in enumerate(lines[1:], start=2):
            if not fields or all(not x.strip() for x in fields):
                continue
            where = f"{path}:{lineno}"
            row = parse_row(fields, where)
            key = (row["workload"], row["peer"], row["threads"])
            if key in seen:
                raise DataError(f"{where}: {row['workload']},{row['peer']},threads={row['threads']} "
                                f"appears again (first at {seen[key]})")
            seen[key] = where
            rows.append(row)
    if not rows:
        raise DataError(f"no data rows in {', '.join(paths)}")
    return rows


def parse_row(fields, where):
    if len(fields) != len(HEADER):
        raise DataError(f"{where}: {len(fields)} fields, expected {len(HEADER)} ({','.join(HEADER)})")
    raw = dict(zip(HEADER, (x.strip() for x in fields)))
    row = {"raw": [raw[h] for h in HEADER], "where": where}

    def integer(name, minimum):
        s = raw[name]
        try:
            v = int(s)
        except ValueError:
            raise DataError(f"{where}: field {name} = {s!r} is not an integer")
        if v < minimum:
            raise DataError(f"{where}: field {name} = {v} is below {minimum}")
        return v

    def number(name, optional=False):
        s = raw[name]
        if s == "" and optional:
            return None
        try:
            v = float(s)
        except ValueError:
            raise DataError(f"{where}: field {name} = {s!r} is not a number")
        if not math.isfinite(v) or v < 0:
            raise DataError(f"{where}: field {name} = {s!r} is not a finite number >= 0")
        return v

    if raw["workload"] not in WORKLOADS:
        raise DataError(f"{where}: unknown workload {raw['workload']!r} "
                        f"(one of {', '.join(WORKLOADS)})")
    if not raw["peer"]:
        raise DataError(f"{where}: empty peer")
    row["workload"] = raw["workload"]
    row["peer"] = raw["peer"]
    row["threads"] = integer("threads", 1)
    row["ops"] = integer("ops", 0)
    row["seconds"] = number("seconds")
    row["ops_per_sec"] = number("ops_per_sec")
    row["p50_us"] = number("p50_us", optional=True)
    row["p99_us"] = number("p99_us", optional=True)
    row["repeats"] = integer("repeats", 1)
    row["cores"] = integer("cores", 1)
    return row


class Data:
    def __init__(self, rows):
        self.rows = rows
        self.by = {(r["workload"], r["peer"], r["threads"]): r for r in rows}
        unknown = sorted({r["peer"] for r in rows} - set(PEERS))
        for p in unknown:
            first = next(r["where"] for r in rows if r["peer"] == p)
            print(f"report.py: warning: unknown peer {p!r} (first at {first}); shown after the "
                  f"known ones", file=sys.stderr)
        self.peer_order = PEERS + unknown
        cores = sorted({r["cores"] for r in rows})
        if len(cores) > 1:
            print(f"report.py: warning: the rows come from machines with different core counts "
                  f"({', '.join(map(str, cores))})", file=sys.stderr)
        self.cores = cores

    def workloads(self):
        present = {r["workload"] for r in self.rows}
        return [w for w in WORKLOADS if w in present]

    def peers(self, workload):
        present = {r["peer"] for r in self.rows if r["workload"] == workload}
        return [p for p in self.peer_order if p in present]

    def threads(self, workload):
        return sorted({r["threads"] for r in self.rows if r["workload"] == workload})

    def get(self, workload, peer, threads, field):
        r = self.by.get((workload, peer, threads))
        return None if r is None else r[field]

    def cores_text(self):
        return "/".join(map(str, self.cores)) + (" core" if self.cores == [1] else " cores")

    def sorted_rows(self):
        def key(r):
            return (WORKLOADS.index(r["workload"]), self.peer_order.index(r["peer"]), r["threads"])
        return sorted(self.rows, key=key)


# ---------------------------------------------------------------------------------------------
# Formatting


def three_digits(x):
    """1234 -> '1230', 12.34 -> '12.3', 1.234 -> '1.23', 0.1234 -> '0.123'."""
    if x == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return f"{x:.{digits}f}"


def si(x):
    """12_345_678 -> '12.3M', 845_000 -> '845k', 999.6 -> '1.00k'."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= factor * 0.9995:
            return three_digits(x / factor) + suffix
    return three_digits(x)


def si_short(x):
    """For axis labels: 10_000_000 -> '10M', 1_500_000 -> '1.5M', 500_000 -> '500k'."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= factor * 0.9995:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def log_ticks(lo, hi):
    """Tick values for a log axis from lo to hi: the sparsest of 1-2-5-like series that gives at
    least 4 ticks (or the densest one when even that gives fewer)."""
    ticks = []
    for subs in ((1,), (1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1,
                                              math.ceil(math.log10(hi)) + 1)
                 for m in subs if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 5:
            break
    return ticks


def rate(x):
    return DASH if x is None else si(x) + "/s"


def ratio(x):
    return DASH if x is None else three_digits(x) + "×"


def div(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


# ---------------------------------------------------------------------------------------------
# Plots


def peer_style(peer, data):
    if peer in PEER_STYLE:
        return PEER_STYLE[peer]
    i = data.peer_order.index(peer) - len(PEERS)
    return EXTRA_COLOURS[i % len(EXTRA_COLOURS)], "o"


def plots(data, out_dir, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    plt.rcParams.update({"font.size": 12, "axes.titlesize": 13, "legend.fontsize": 11,
                         "axes.grid": True, "grid.alpha": 0.35})
    written = []

    def setup_x(ax, xs, label):
        if len(xs) > 1 and xs[-1] / xs[0] >= 8:
            ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        if len(xs) == 1:
            ax.set_xlim(xs[0] - 1, xs[0] + 1)
        else:
            span = xs[-1] - xs[0]
            if ax.get_xscale() == "log":
                ax.set_xlim(xs[0] / 1.25, xs[-1] * 1.25)
            else:
                ax.set_xlim(xs[0] - 0.05 * span, xs[-1] + 0.05 * span)
        ax.set_xlabel(label)

    def setup_log_y(ax, values, fmt):
        lo, hi = min(values), max(values)
        # at least a factor 3 of range, so a flat set of lines still gets labelled ticks
        mid = math.sqrt(lo * hi)
        span = max(hi / lo, 3.0) ** 0.5 * 1.25
        ylo, yhi = min(lo / 1.25, mid / span), max(hi * 1.25, mid * span)
        ax.set_yscale("log")
        ax.set_ylim(ylo, yhi)
        ticks = log_ticks(ylo, yhi)
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=[float(i) for i in range(1, 10)]))
        ax.yaxis.set_minor_formatter(NullFormatter())

    def finish(fig, ax, name, legend_handles=None, extra_legend=None):
        if extra_legend is not None:
            ax.add_artist(extra_legend)
        ax.legend(handles=legend_handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, frameon=False)
        fig.tight_layout()
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(path)

    cores = data.cores_text()
    for w in data.workloads():
        if w == "ring":
            continue
        xs = data.threads(w)
        fig, ax = plt.subplots(figsize=(10, 6))
        values = []
        for p in data.peers(w):
            pts = [(t, data.get(w, p, t, "ops_per_sec")) for t in xs]
            pts = [(t, v) for t, v in pts if v]
            if not pts:
                continue
            colour, marker = peer_style(p, data)
            floor = p in FLOORS
            ax.plot([t for t, _ in pts], [v for _, v in pts], color=colour, marker=marker,
                    markersize=8, linewidth=2.5 if floor else 2, label=PEER_LABEL.get(p, p),
                    zorder=3 if floor else 2)
            values += [v for _, v in pts]
        if not values:
            plt.close(fig)
            continue
        setup_x(ax, xs, THREADS_LABEL[w])
        setup_log_y(ax, values, si_short)
        ax.set_ylabel(f"{UNIT.get(w, 'operations')} per second (log scale)")
        ax.set_title(f"{w}: {DESCRIPTION[w]}\n{title}, {cores}")
        finish(fig, ax, f"{w}.png")

    if "ring" in data.workloads():
        xs = data.threads("ring")
        # latency
        fig, ax = plt.subplots(figsize=(10, 6))
        values, handles = [], []
        for p in data.peers("ring"):
            colour, marker = peer_style(p, data)
            floor = p == "eventfd-floor"
            width = 2.5 if floor else 2
            drawn = False
            for field, style in (("p50_us", "-"), ("p99_us", "--")):
                pts = [(t, data.get("ring", p, t, field)) for t in xs]
                pts = [(t, v) for t, v in pts if v]
                if not pts:
                    continue
                ax.plot([t for t, _ in pts], [v for _, v in pts], color=colour, marker=marker,
                        markersize=8, linewidth=width, linestyle=style, zorder=3 if floor else 2)
                values += [v for _, v in pts]
                drawn = True
            if drawn:
                handles.append(Line2D([], [], color=colour, marker=marker, markersize=8,
                                      linewidth=width, label=PEER_LABEL.get(p, p)))
        if values:
            styles = ax.legend(handles=[Line2D([], [], color="#444444", linewidth=2, linestyle="-",
                                               label="p50"),
                                        Line2D([], [], color="#444444", linewidth=2,
                                               linestyle="--", label="p99")],
                               loc="lower left", bbox_to_anchor=(1.01, 0.0), borderaxespad=0.0,
                               frameon=False, title="line")
            setup_x(ax, xs, THREADS_LABEL["ring"])
            setup_log_y(ax, values, lambda v: f"{v:g} µs")
            ax.set_ylabel("one-hop latency, µs (log scale)")
            ax.set_title(f"ring: one-hop latency (p50 solid, p99 dashed)\n{title}, {cores}")
            finish(fig, ax, "ring-latency.png", handles, styles)
        else:
            plt.close(fig)
        # throughput
        fig, ax = plt.subplots(figsize=(10, 6))
        values = []
        for p in data.peers("ring"):
            pts = [(t, data.get("ring", p, t, "ops_per_sec")) for t in xs]
            pts = [(t, v) for t, v in pts if v]
            if not pts:
                continue
            colour, marker = peer_style(p, data)
            floor = p == "eventfd-floor"
            ax.plot([t for t, _ in pts], [v for _, v in pts], color=colour, marker=marker,
                    markersize=8, linewidth=2.5 if floor else 2, label=PEER_LABEL.get(p, p),
                    zorder=3 if floor else 2)
            values += [v for _, v in pts]
        if values:
            setup_x(ax, xs, THREADS_LABEL["ring"])
            setup_log_y(ax, values, si_short)
            ax.set_ylabel("hops per second (log scale)")
            ax.set_title(f"ring: token hops per second\n{title}, {cores}")
            finish(fig, ax, "ring-throughput.png")
        else:
            plt.close(fig)
    return written


# ---------------------------------------------------------------------------------------------
# Markdown


RATIO_PEERS = {  # ML/<peer> columns of a throughput table (only the peers present)
    "fan-in": ["nio", "asyncio", "uvloop"],
    "tasks": ["nio", "floor", "uvloop"],
    "gather": ["nio", "floor", "uvloop"],
    "switch": ["nio", "floor", "uvloop"],
}


def throughput_table(data, w):
    peers = data.peers(w)
    unit = UNIT.get(w, "ops")
    header = [THREADS_LABEL[w]] + [f"{p} {unit}/s" for p in peers]
    # A ratio column needs both series; a peer (or multiloop) absent from the data has none.
    ratio_peers = [p for p in RATIO_PEERS.get(w, ["nio"]) if ML in peers and p in peers]
    header += [f"ML/{'NIO' if p == 'nio' else p}" for p in ratio_peers]
    vs_single = w == "all-to-all" and ML in peers
    if vs_single:
        header.append("vs N × single")
    single = data.get(w, ML, 1, "ops_per_sec")
    rows = []
    for t in data.threads(w):
        ml = data.get(w, ML, t, "ops_per_sec")
        cells = [str(t)] + [rate(data.get(w, p, t, "ops_per_sec")) for p in peers]
        cells += [ratio(div(ml, data.get(w, p, t, "ops_per_sec"))) for p in ratio_peers]
        if vs_single:
            cells.append(ratio(div(ml, None if single is None else t * single)))
        rows.append(cells)
    return md_table(header, rows)


def ring_table(data):
    peers = data.peers("ring")

    def lat(p, t):
        a, b = data.get("ring", p, t, "p50_us"), data.get("ring", p, t, "p99_us")
        if a is None and b is None:
            return DASH
        return f"{DASH if a is None else three_digits(a)} / {DASH if b is None else three_digits(b)}"

    header = [THREADS_LABEL["ring"]] + [f"{PEER_LABEL.get(p, p)} p50 / p99 µs" for p in peers]
    header.append("ML p50 / floor p50")
    rows = []
    for t in data.threads("ring"):
        cells = [str(t)] + [lat(p, t) for p in peers]
        cells.append(ratio(div(data.get("ring", ML, t, "p50_us"),
                               data.get("ring", "eventfd-floor", t, "p50_us"))))
        rows.append(cells)
    return md_table(header, rows)


def targets(data):
    """The Targets table. Rows 1-4b say "no data" and the later rows "not measured" where a
    series they need is absent; a target is never judged on data that is not there."""
    rows = []
    met = lambda ok: "**met**" if ok else "**missed**"
    not_measured = "not measured"

    def ops(w, p, t):
        return data.get(w, p, t, "ops_per_sec")

    def missing_at_one(w, peers):
        """What is absent at 1 loop, e.g. 'no floor row (switch, 1 loop)'."""
        absent = [p for p in peers if ops(w, p, 1) is None]
        return f"no {' or '.join(absent)} row ({w}, 1 loop)" if absent else DASH

    def min_ratio(w, peer, need, label, target, count_word, no_data):
        """multiloop / peer at every thread count multiloop has: the minimum, and where."""
        ml_threads = [t for t in data.threads(w) if ops(w, ML, t) is not None]
        pairs = [(div(ops(w, ML, t), ops(w, peer, t)), t) for t in ml_threads]
        have = [(r, t) for r, t in pairs if r is not None]
        if not have:
            if no_data == "no data":   # rows 1-2b, as they always were
                why = DASH
            elif not ml_threads:
                why = f"no {ML} rows ({w})"
            else:
                why = f"no {peer} row at {count_word} = {', '.join(map(str, ml_threads))}"
            rows.append([label, target, why, no_data])
            return
        worst, at = min(have)
        measured = f"min {ratio(worst)} ({count_word} = {at})"
        lacking = [t for r, t in pairs if r is None]
        if lacking:
            measured += f"; no {peer} row at {count_word} = {', '.join(map(str, lacking))}"
        rows.append([label, target, measured, met(worst >= need)])

    def at_one_loop(w, peer, need, label, target):
        """multiloop / peer at threads = 1."""
        ml, other = ops(w, ML, 1), ops(w, peer, 1)
        r = div(ml, other)
        if r is None:
            rows.append([label, target, missing_at_one(w, [ML, peer]), not_measured])
        else:
            rows.append([label, target, f"{ratio(r)} ({rate(ml)} vs {rate(other)})",
                         met(r >= need)])

    def all_to_all(peer, label, no_data):
        a2a_cores = sorted({r["cores"] for r in data.rows if r["workload"] == "all-to-all"
                            and r["peer"] == peer}) or data.cores
        n = a2a_cores[-1]
        target = f"all-to-all: {peer} at N = cores ({n}) ≥ 0.8 × N × single loop"
        one = ops("all-to-all", peer, 1)
        at_n = ops("all-to-all", peer, n)
        r = div(at_n, None if one is None else n * one)
        if r is None:
            why = DASH
            if no_data != "no data":
                absent = [f"{t} {'loop' if t == 1 else 'loops'}" for t, v in ((1, one), (n, at_n))
                          if v is None]
                why = f"no {peer} row at {' or '.join(absent)}" if absent else DASH
            rows.append([label, target, why, no_data])
        else:
            rows.append([label, target, f"{ratio(r)} ({rate(at_n)} vs {n} × {rate(one)})",
                         met(r >= 0.8)])

    for label, peer, need in (("1", "nio", 5), ("2a", "asyncio", 20), ("2b", "uvloop", 20)):
        min_ratio("fan-in", peer, need, label,
                  f"fan-in: multiloop ≥ {need}× {peer} at every thread count", "threads",
                  "no data")

    all_to_all(ML, "3", "no data")
    if any(r["workload"] == "all-to-all" and r["peer"] == "multiloop-batched" for r in data.rows):
        all_to_all("multiloop-batched", "3b", not_measured)

    for label, field, name in (("4a", "p50_us", "p50"), ("4b", "p99_us", "p99")):
        target = (f"ring, ping-pong (2 loops): multiloop {name} ≤ 1.1 × raw eventfd floor {name}")
        ml = data.get("ring", ML, 2, field)
        floor = data.get("ring", "eventfd-floor", 2, field)
        r = div(ml, floor)
        if r is None:
            rows.append([label, target, DASH, "no data"])
        else:
            rows.append([label, target,
                         f"{ratio(r)} ({three_digits(ml)} µs vs {three_digits(floor)} µs)",
                         met(r <= 1.1)])

    min_ratio("tasks", "nio", 1.5, "5", "tasks: multiloop ≥ 1.5× nio at every loop count",
              "loops", not_measured)
    at_one_loop("tasks", "uvloop", 3, "6a", "tasks, 1 loop: multiloop ≥ 3× uvloop")
    at_one_loop("tasks", "asyncio", 10, "6b", "tasks, 1 loop: multiloop ≥ 10× asyncio")

    # 7a: time per switch, multiloop against the runtime's floor: floor ops/s / multiloop ops/s.
    target = "switch, 1 loop: multiloop time per switch ≤ 1.3 × runtime floor's"
    ml, floor = ops("switch", ML, 1), ops("switch", "floor", 1)
    r = div(floor, ml)
    if r is None:
        rows.append(["7a", target, missing_at_one("switch", [ML, "floor"]), not_measured])
    else:
        per_switch = lambda v: f"{three_digits(1e9 / v)} ns" if v else DASH
        rows.append(["7a", target,
                     f"{ratio(r)} ({per_switch(ml)} vs {per_switch(floor)} per switch)",
                     met(r <= 1.3)])
    at_one_loop("switch", "uvloop", 3, "7b", "switch, 1 loop: multiloop ≥ 3× uvloop")
    at_one_loop("switch", "nio", 1, "7c", "switch, 1 loop: multiloop ≥ 1× nio")

    min_ratio("gather", "uvloop", 3, "8",
              "gather: multiloop ≥ 3× uvloop at every loop count (per task)", "loops",
              not_measured)

    target = ("fan-in, 1 producer: multiloop-handle ≥ 0.7 × multiloop "
              "(callSoonThreadsafe against execute)")
    handle, ml = ops("fan-in", "multiloop-handle", 1), ops("fan-in", ML, 1)
    r = div(handle, ml)
    if r is None:
        absent = [p for p, v in (("multiloop-handle", handle), (ML, ml)) if v is None]
        why = f"no {' or '.join(absent)} row (fan-in, 1 producer)" if absent else DASH
        rows.append(["9", target, why, not_measured])
    else:
        rows.append(["9", target, f"{ratio(r)} ({rate(handle)} vs {rate(ml)})", met(r >= 0.7)])
    return md_table(["#", "target", "measured", "result"], rows)


def section(data, args, images):
    md_dir = os.path.dirname(os.path.abspath(args.markdown))
    csv_link = link(os.path.join(args.out_dir, "results.csv"), md_dir)
    out = [f"Machine: {args.title}, {data.cores_text()}. Generated {args.date} by "
           f"`{args.command}`. Data: [{csv_link}]({csv_link})."]
    for w in data.workloads():
        out += ["", f"### {w}", "", f"{DESCRIPTION[w][0].upper()}{DESCRIPTION[w][1:]}."]
        out += [""] + (ring_table(data) if w == "ring" else throughput_table(data, w))
        names = [f"{w}.png"] if w != "ring" else ["ring-latency.png", "ring-throughput.png"]
        for name in names:
            path = os.path.join(args.out_dir, name)
            if path in images:
                out += ["", f"![{name[:-4]}]({link(path, md_dir)})"]
    out += ["", "### Targets", ""] + targets(data)
    return "\n".join(out) + "\n"


def link(path, md_dir):
    return os.path.relpath(os.path.abspath(path), md_dir).replace(os.sep, "/")


def insert_section(md_path, name, body, heading=None):
    """Replaces what stands between the `name` markers of `md_path` with `body`. Without the
    markers: appends them under `## heading`, or, with no heading, refuses (DataError).
    Returns whether the file changed."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    try:
        with open(md_path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise DataError(f"{md_path}: cannot read: {e.strerror}")
    nb, ne = text.count(begin), text.count(end)
    if nb == 0 and ne == 0 and heading is not None:
        if text and not text.endswith("\n"):
            text += "\n"
        new = text + f"\n## {heading}\n\n{begin}\n{body}{end}\n"
    elif nb == 1 and ne == 1 and text.index(begin) < text.index(end):
        i = text.index(begin) + len(begin)
        j = text.index(end)
        new = text[:i] + "\n" + body + text[j:]
    else:
        raise DataError(f"{md_path}: the markers {begin} and {end} must appear once each, "
                        f"begin before end (found {nb} and {ne})")
    if new != text:
        with open(md_path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text


def write_results(data, out_dir):
    path = os.path.join(out_dir, "results.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for r in data.sorted_rows():
            w.writerow(r["raw"])
    return path


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="report.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 done, 1 malformed input, markers or a missing file, 2 usage.")
    ap.add_argument("csv", nargs="+", metavar="CSV",
                    help="sweep results with the header " + ",".join(HEADER) +
                         "; the rows of all files are concatenated")
    ap.add_argument("--out-dir", default="docs/scaling",
                    help="where the PNGs and results.csv go (created if missing; "
                         "default: %(default)s)")
    ap.add_argument("--markdown", default="docs/benchmarks.md",
                    help="markdown file whose section is replaced (default: %(default)s)")
    ap.add_argument("--section", default="scaling",
                    help="marker name: the section lies between <!-- SECTION:begin --> and "
                         "<!-- SECTION:end --> (default: %(default)s)")
    ap.add_argument("--title", required=True,
                    help="the machine, as it appears in the plot titles and the section, "
                         "e.g. \"2-vCPU VM\" (the core count from the CSV is added)")
    ap.add_argument("--command", default="make scaling",
                    help="the command named as the producer of the section (default: %(default)s)")
    ap.add_argument("--date", default=datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
                    help="date of generation shown in the section (default: today, UTC)")
    args = ap.parse_args(argv)
    if args.section.strip() != args.section or not args.section or "--" in args.section:
        ap.error("--section must be a plain name (no spaces, no '--')")

    try:
        data = Data(read_csvs(args.csv))
        if not os.path.isfile(args.markdown):
            raise DataError(f"{args.markdown}: no such file")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise DataError("matplotlib is not installed for " + sys.executable + "; run with "
                            "the interpreter that Benchmarks/python/ensure-python.sh prints")
        os.makedirs(args.out_dir, exist_ok=True)
        images = plots(data, args.out_dir, args.title)
        stale = [os.path.join(args.out_dir, f"{w}.png") for w in THROUGHPUT_WORKLOADS]
        stale += [os.path.join(args.out_dir, n) for n in ("ring-latency.png", "ring-throughput.png")]
        stale = [p for p in stale if p not in images and os.path.isfile(p)]
        for p in stale:  # plots of an earlier run whose workload is no longer in the data
            os.remove(p)
        results = write_results(data, args.out_dir)
        changed = insert_section(args.markdown, args.section, section(data, args, images),
                                 heading=f"Thread scaling ({args.title})")
    except DataError as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        return 1
    for path in images + [results]:
        print(f"wrote {path}")
    for path in stale:
        print(f"removed {path} (no rows for it now)")
    print(f"{'updated' if changed else 'unchanged'} {args.markdown} (section {args.section})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
