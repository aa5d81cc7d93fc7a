#!/usr/bin/env python3
"""Turn the echo benchmark's CSV (Benchmarks/python/echo_bench.py) into tables in
docs/benchmarks.md and plots in docs/echo/.

    PY=$(Benchmarks/python/ensure-python.sh) &&
    "$PY" Benchmarks/python/echo_report.py .build-echo/echo.csv \\
        --out-dir docs/echo --markdown docs/benchmarks.md --title "2-vCPU VM"

Input: one CSV with echo_bench.py's header. Each point (server, size, connections) is the median
of its runs with status "ok", by requests per second (the upper middle one when the count is
even, as in the scaling sweep), with that run's latencies and CPU shares. Runs that failed are
counted and named in the section, never averaged in. A malformed file (wrong header, a
non-numeric field) stops the script with exit status 1 and a message naming the line.

Output:
  OUT-DIR/requests.png   requests per second against connections, one panel per message size,
                         one line per server (log y)
  OUT-DIR/latency.png    p50 (top row) and p99 (bottom row) round-trip latency, same layout
  OUT-DIR/results.csv    the median rows, sorted by size, connections, server
  MARKDOWN               everything between <!-- SECTION:begin --> and <!-- SECTION:end -->
                         (SECTION is --section, "echo" by default) is replaced: the machine and
                         settings; requests/s of every server at every point; per message size,
                         req/s, p50 and p99, the ratio to uvloop-streams and to nio in the same
                         run, and both CPU shares; the generator's headroom (the ceiling against
                         the fastest real server at each point). The markers must be there
                         already; text outside them is never touched, and a second run with the
                         same data on the same day changes nothing.
"""

import argparse
import csv
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (DASH, DataError, insert_section, link, log_ticks, md_table, si,  # noqa: E402
                    si_short, three_digits)

HEADER = ["server", "size", "connections", "repeat", "requests", "seconds", "requests_per_sec",
          "p50_us", "p99_us", "max_us", "mean_us", "bytes", "errors", "client_cpu_percent",
          "server_cpu_percent", "client_threads", "server_cpus", "client_cpus", "cores", "status"]
NUMERIC = {"size": int, "connections": int, "repeat": int, "requests": int, "seconds": float,
           "requests_per_sec": float, "p50_us": float, "p99_us": float, "max_us": float,
           "mean_us": float, "bytes": int, "errors": int, "client_cpu_percent": float,
           "server_cpu_percent": float, "client_threads": int, "cores": int}

# The order of echo_bench.py's server table; colours and markers for the plots.
SERVERS = ["echo-ceiling", "multiloop-streams", "multiloop-protocols", "nio", "uvloop-streams",
           "uvloop-protocols", "asyncio-streams", "asyncio-protocols"]
STYLE = {
    "echo-ceiling": ("#000000", "X", ":"),
    "multiloop-streams": ("#1f77b4", "o", "-"),
    "multiloop-protocols": ("#6baed6", "o", "--"),
    "nio": ("#ff7f0e", "s", "-"),
    "uvloop-streams": ("#8c564b", "h", "-"),
    "uvloop-protocols": ("#c49c94", "h", "--"),
    "asyncio-streams": ("#d62728", "*", "-"),
    "asyncio-protocols": ("#ff9896", "*", "--"),
}
CEILING = "echo-ceiling"
RATIO_TO = ["uvloop-streams", "nio"]
# A run in which the client used this much of its CPU may have been limited by the client.
CLIENT_BUSY = 90.0




def read_rows(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}")
    if not lines or [h.strip() for h in lines[0]] != HEADER:
        raise DataError(f"{path}:1: expected the header {','.join(HEADER)}")
    rows = []
    for lineno, fields in enumerate(lines[1:], start=2):
        if not fields:
            continue
        if len(fields) != len(HEADER):
            raise DataError(f"{path}:{lineno}: {len(fields)} fields, expected {len(HEADER)}")
        row = dict(zip(HEADER, fields))
        for key, kind in NUMERIC.items():
            text = row[key].strip()
            if text == "":
                row[key] = None
                continue
            try:
                row[key] = kind(text)
            except ValueError:
                raise DataError(f"{path}:{lineno}: {key} is not a number: {text!r}")
        if row["status"] == "ok" and row["requests_per_sec"] is None:
            raise DataError(f"{path}:{lineno}: a run marked ok without figures")
        row["raw"] = fields
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


class Points:
    """The median run of each (server, size, connections), and the failed runs."""

    def __init__(self, rows):
        self.rows = rows
        groups = {}
        for r in rows:
            groups.setdefault((r["server"], r["size"], r["connections"]), []).append(r)
        self.median = {}
        self.runs = {}
        for key, runs in groups.items():
            ok = sorted((r for r in runs if r["status"] == "ok"), key=lambda r: r["requests_per_sec"])
            self.runs[key] = (len(ok), len(runs))
            if ok:
                self.median[key] = ok[len(ok) // 2]
        self.failed = [r for r in rows if r["status"] != "ok"]
        known = [s for s in SERVERS if any(r["server"] == s for r in rows)]
        self.servers = known + sorted({r["server"] for r in rows} - set(SERVERS))
        self.sizes = sorted({r["size"] for r in rows})
        self.connections = sorted({r["connections"] for r in rows})
        self.repeats = max(r["repeat"] for r in rows)

    def get(self, server, size, connections, field="requests_per_sec"):
        row = self.median.get((server, size, connections))
        return None if row is None else row[field]

    def settings(self, field):
        values = sorted({str(r[field]) for r in self.rows if r[field] is not None})
        return ", ".join(values) if values else DASH


def size_text(size):
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def rate(x):
    return DASH if x is None else si(x)


def micros(x):
    return DASH if x is None else three_digits(x)


def ratio(a, b):
    return DASH if a is None or not b else three_digits(a / b) + "×"


def percent(x):
    return DASH if x is None else f"{x:.0f}%"


# ---------------------------------------------------------------------------------------------
# Plots


def plots(points, out_dir, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "legend.fontsize": 10,
                         "axes.grid": True, "grid.alpha": 0.35})
    xs = points.connections
    written = []

    def draw(ax, field, size, label_lines):
        values = []
        for s in points.servers:
            pts = [(c, points.get(s, size, c, field)) for c in xs]
            pts = [(c, v) for c, v in pts if v]
            if not pts:
                continue
            colour, marker, style = STYLE.get(s, ("#7f7f7f", "o", "-"))
            ax.plot([c for c, _ in pts], [v for _, v in pts], color=colour, marker=marker,
                    linestyle=style, linewidth=2, markersize=7, label=s if label_lines else None)
            values += [v for _, v in pts]
        ax.set_yscale("log")
        if values:
            lo, hi = min(values) / 1.3, max(values) * 1.3
            ax.set_ylim(lo, hi)
            ax.yaxis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
        if len(xs) > 1 and xs[-1] / xs[0] >= 8:
            ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: si_short(v)))
        ax.yaxis.set_minor_formatter(NullFormatter())

    def save(fig, name):
        handles, labels = fig.axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.tight_layout()
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=100, metadata={"Software": None}, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    n = len(points.sizes)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.6), squeeze=False)
    for i, size in enumerate(points.sizes):
        ax = axes[0][i]
        draw(ax, "requests_per_sec", size, i == 0)
        ax.set_title(f"{size_text(size)} messages")
        ax.set_xlabel("connections")
        if i == 0:
            ax.set_ylabel("requests per second (log scale)")
    fig.suptitle(f"Echo: requests per second, {title}")
    save(fig, "requests.png")

    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 8), squeeze=False)
    for i, size in enumerate(points.sizes):
        for j, (field, name) in enumerate((("p50_us", "p50"), ("p99_us", "p99"))):
            ax = axes[j][i]
            draw(ax, field, size, i == 0 and j == 0)
            ax.set_title(f"{size_text(size)} messages: {name}")
            ax.set_xlabel("connections")
            if i == 0:
                ax.set_ylabel(f"{name} round trip, µs (log scale)")
    fig.suptitle(f"Echo: round-trip latency, {title}")
    save(fig, "latency.png")
    return written


# ---------------------------------------------------------------------------------------------
# Markdown


def summary_table(points):
    header = ["server"] + [f"{size_text(s)} × {c}" for s in points.sizes for c in points.connections]
    rows = [[s] + [rate(points.get(s, size, c)) for size in points.sizes for c in points.connections]
            for s in points.servers]
    return md_table(header, rows)


def size_table(points, size):
    ratio_to = [p for p in RATIO_TO if p in points.servers]
    header = ["connections", "server", "req/s", "p50 µs", "p99 µs"]
    header += [f"÷ {p}" for p in ratio_to] + ["server CPU", "client CPU"]
    rows = []
    for c in points.connections:
        for s in points.servers:
            row = points.median.get((s, size, c))
            ok, runs = points.runs.get((s, size, c), (0, 0))
            if row is None:
                if runs:
                    rows.append([str(c), s, f"failed ({runs} of {runs} runs)"] +
                                [DASH] * (len(header) - 3))
                continue
            cells = [str(c), s, rate(row["requests_per_sec"]), micros(row["p50_us"]),
                     micros(row["p99_us"])]
            cells += [ratio(row["requests_per_sec"], points.get(p, size, c)) for p in ratio_to]
            cells += [percent(row["server_cpu_percent"]), percent(row["client_cpu_percent"])]
            rows.append(cells)
    return md_table(header, rows)


def headroom(points):
    """The ceiling against the fastest other server at each point; and whether it is ahead at
    every point (None when there is no ceiling or no other server)."""
    others = [s for s in points.servers if s != CEILING]
    header = ["size", "connections", "ceiling req/s", "client CPU at the ceiling",
              "fastest server", "its req/s", "ceiling ÷ fastest", "client CPU there"]
    rows, verdict, behind = [], None, []
    if CEILING not in points.servers or not others:
        return md_table(header, rows), verdict, behind
    verdict = True
    for size in points.sizes:
        for c in points.connections:
            ceiling = points.median.get((CEILING, size, c))
            best = max((points.median[(s, size, c)] for s in others if (s, size, c) in points.median),
                       key=lambda r: r["requests_per_sec"], default=None)
            if ceiling is None or best is None:
                rows.append([size_text(size), str(c)] + [DASH] * (len(header) - 2))
                continue
            r = ceiling["requests_per_sec"] / best["requests_per_sec"]
            if r < 1:
                verdict = False
                behind.append(f"{size_text(size)} × {c}: {best['server']} {three_digits(r)}×")
            rows.append([size_text(size), str(c), rate(ceiling["requests_per_sec"]),
                         percent(ceiling["client_cpu_percent"]), best["server"],
                         rate(best["requests_per_sec"]), ratio(ceiling["requests_per_sec"],
                                                                best["requests_per_sec"]),
                         percent(best["client_cpu_percent"])])
    return md_table(header, rows), verdict, behind


def section(points, args, images):
    md_dir = os.path.dirname(os.path.abspath(args.markdown))
    csv_link = link(os.path.join(args.out_dir, "results.csv"), md_dir)
    seconds = points.settings("seconds")
    n = points.repeats
    which = ("one run" if n == 1 else "the faster of two runs" if n == 2 else
             f"the median (by requests/s) of {n} runs")
    out = [f"Machine: {args.title}, {points.settings('cores')} CPUs; servers pinned to CPU "
           f"{points.settings('server_cpus')}, the client to CPU {points.settings('client_cpus')} "
           f"({points.settings('client_threads')} thread). Generated {args.date} by "
           f"`{args.command}`: each point is {which} of {seconds} s, measured after a warm-up, "
           f"the servers taking turns at each point. Data: [{csv_link}]({csv_link})."]
    missing = [s for s in SERVERS if s not in points.servers]
    if missing:
        out += ["", f"Not in this run: {', '.join(missing)} (skipped: not built or not "
                    "installed; `echo_bench.py --list` says why)."]
    if points.failed:
        out += ["", f"Failed runs ({len(points.failed)}, left out of the medians):"]
        out += [f"- {r['server']}, {size_text(r['size'])} × {r['connections']}, run "
                f"{r['repeat']}: {r['status']}" for r in points.failed]
    out += ["", "### Requests per second", "",
            "Message size × connections; each connection has one request in flight.", ""]
    out += summary_table(points)
    for name in ("requests.png",):
        path = os.path.join(args.out_dir, name)
        if path in images:
            out += ["", f"![requests per second]({link(path, md_dir)})"]
    for size in points.sizes:
        out += ["", f"### {size_text(size)} messages", ""]
        out += size_table(points, size)
    path = os.path.join(args.out_dir, "latency.png")
    if path in images:
        out += ["", f"![round-trip latency]({link(path, md_dir)})"]
    table, verdict, behind = headroom(points)
    busy = [r for k, r in sorted(points.median.items(), key=lambda kv: (kv[0][1], kv[0][2]))
            if k[0] != CEILING and (r["client_cpu_percent"] or 0) >= CLIENT_BUSY]
    out += ["", "### The generator's headroom", ""]
    if verdict is None:
        out += ["No ceiling rows (or no other server) in this run: not checked."]
    elif verdict:
        out += ["The client drove the ceiling at least as fast as the fastest real server at "
                "every point: the figures above are the servers', not the client's."]
    else:
        out += ["**The ceiling was not ahead everywhere** (" + "; ".join(behind) + "): at those "
                "points the figures are within what the kernel's loopback path and this "
                "machine's noise allow, or the client is the limit (\"Is the load generator the "
                "bottleneck?\" above)."]
    if busy:
        out += ["", f"The client used {CLIENT_BUSY:.0f}% of its CPU or more against: " +
                ", ".join(f"{r['server']} at {size_text(r['size'])} × {r['connections']} "
                          f"({percent(r['client_cpu_percent'])})" for r in busy) +
                ". There the figure may be partly the client's: a lower bound for that server."]
    else:
        out += ["", f"Against every real server the client used less than {CLIENT_BUSY:.0f}% of "
                    "its CPU: it had time to spare (waiting for the server, or for its CPU where "
                    "other jobs share the machine)."]
    out += [""] + table
    return "\n".join(out) + "\n"


def write_results(points, out_dir):
    path = os.path.join(out_dir, "results.csv")
    keys = sorted(points.median, key=lambda k: (k[1], k[2], SERVERS.index(k[0])
                                                if k[0] in SERVERS else len(SERVERS), k[0]))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for k in keys:
            w.writerow(points.median[k]["raw"])
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(prog="echo_report.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Exit status: 0 done, 1 malformed input or markers, 2 usage.")
    ap.add_argument("csv", help="echo_bench.py's output")
    ap.add_argument("--out-dir", default="docs/echo", help="plots and results.csv (default: %(default)s)")
    ap.add_argument("--markdown", default="docs/benchmarks.md",
                    help="markdown file whose section is replaced (default: %(default)s)")
    ap.add_argument("--section", default="echo", help="marker name (default: %(default)s)")
    ap.add_argument("--title", required=True, help="the machine, e.g. \"2-vCPU VM\"")
    ap.add_argument("--command", default="make echo",
                    help="the command named as the producer of the section (default: %(default)s)")
    ap.add_argument("--date", default=datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    args = ap.parse_args(argv)
    try:
        points = Points(read_rows(args.csv))
        if not os.path.isfile(args.markdown):
            raise DataError(f"{args.markdown}: no such file")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise DataError("matplotlib is not installed for " + sys.executable + "; run with "
                            "the interpreter that Benchmarks/python/ensure-python.sh prints")
        os.makedirs(args.out_dir, exist_ok=True)
        images = plots(points, args.out_dir, args.title) if points.median else []
        results = write_results(points, args.out_dir)
        changed = insert_section(args.markdown, args.section, section(points, args, images))
    except DataError as e:
        print(f"echo_report.py: error: {e}", file=sys.stderr)
        return 1
    for path in images + [results]:
        print(f"wrote {path}")
    print(f"{'updated' if changed else 'unchanged'} {args.markdown} (section {args.section})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
