#!/usr/bin/env python3
"""The echo benchmark's group sweep: MultiLoop's echo servers on N loops against one loop
(docs/benchmarks.md, "Echo server", "A group of loops"). Needs a machine with more cores than
the 2-CPU one `make echo` runs on; only the Python standard library and the binaries
`echo-multiloop` and `multiloop-echo-client` (`make echo-static` builds them with Swift's
runtime linked in, to copy to such a machine):

    python3 Benchmarks/python/echo_group.py --bin-dir .build-echo/bin --out OUT

For each N of --loops (by default 1, 2, 4, ... up to half the CPUs), each server of --servers
runs with --threads N pinned to CPUs 0..N-1, and the load generator on the other half of the
CPUs with one thread per CPU there, N x --connections-per-loop connections of --size bytes,
through echo_bench.py (the same driver, client and checks as `make echo`). The issue's target is
a group of N loops making at least 0.8 x N x what one loop makes.

Writes OUT/group.csv (echo_bench's rows with a `loops` column) and OUT/group.md (requests/s
per N, the ratio to N x one loop, the client's CPU), and prints the table.
Exit status: 0 when every run was ok; 1 when a run failed; 2 on bad usage.
"""
import argparse
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def default_loops(cores):
    loops, n = [], 1
    while n <= max(1, cores // 2):
        loops.append(n)
        n *= 2
    return loops


def run_point(args, n, cores, csv_path):
    """echo_bench.py for N loops; returns its exit status."""
    half = cores // 2
    client_cpus = f"{half}-{cores - 1}" if cores > 1 else "0"
    command = [sys.executable, os.path.join(HERE, "echo_bench.py"),
               "--bin-dir", args.bin_dir, "--servers", args.servers,
               "--sizes", str(args.size), "--connections", str(n * args.connections_per_loop),
               "--server-threads", str(n), "--server-cpus", f"0-{n - 1}" if n > 1 else "0",
               "--client-cpus", client_cpus, "--client-threads", str(max(1, cores - half)),
               "--duration", str(args.duration), "--warmup", str(args.warmup),
               "--repeats", str(args.repeats), "--csv", csv_path, "--quiet"]
    return subprocess.call(command)


def best_rows(rows):
    """The fastest ok run of each (server, loops)."""
    best = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        key = (row["server"], int(row["loops"]))
        if key not in best or float(row["requests_per_sec"]) > float(best[key]["requests_per_sec"]):
            best[key] = row
    return best


def table(best, servers, loops):
    lines = ["| server | loops | req/s | ÷ (loops × one loop) | target 0.8 | client CPU | server CPU |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for server in servers:
        one = best.get((server, 1))
        for n in loops:
            row = best.get((server, n))
            if row is None:
                lines.append(f"| {server} | {n} | failed | | | | |")
                continue
            rate = float(row["requests_per_sec"])
            ratio = rate / (n * float(one["requests_per_sec"])) if one else None
            if ratio is None:
                verdict = ""
            elif n == 1:
                verdict = "(the base)"
            else:
                verdict = "met" if ratio >= 0.8 else "**not met**"
            shown = "" if ratio is None else f"{ratio:.2f}"
            lines.append(f"| {server} | {n} | {rate:,.0f} | {shown} | {verdict} | "
                         f"{float(row['client_cpu_percent']):.0f}% | {float(row['server_cpu_percent']):.0f}% |")
    return "\n".join(lines)


def main():
    cores = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True, help="where echo-multiloop and multiloop-echo-client are")
    ap.add_argument("--out", required=True, help="folder for group.csv and group.md")
    ap.add_argument("--servers", default="multiloop-streams,multiloop-protocols")
    ap.add_argument("--loops", default=",".join(map(str, default_loops(cores))),
                    help="loop counts, each at most half the CPUs (default: 1, 2, 4, ... up to that)")
    ap.add_argument("--connections-per-loop", type=int, default=10)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    try:
        loops = [int(n) for n in args.loops.split(",")]
    except ValueError:
        ap.error(f"--loops must be numbers separated by commas, not {args.loops!r}")
    if not loops or min(loops) < 1 or max(loops) > max(1, cores // 2) or 1 not in loops:
        ap.error(f"--loops needs 1 and counts up to {max(1, cores // 2)} (half of {cores} CPUs: the "
                 "client has the other half)")
    servers = args.servers.split(",")
    os.makedirs(args.out, exist_ok=True)

    rows, failed = [], False
    for n in loops:
        point_csv = os.path.join(args.out, f"group-{n}.csv")
        if run_point(args, n, cores, point_csv) != 0:
            failed = True
        if os.path.exists(point_csv):
            with open(point_csv, newline="") as f:
                for row in csv.DictReader(f):
                    row["loops"] = str(n)
                    rows.append(row)
            os.remove(point_csv)
    if not rows:
        print("echo_group: no run produced a row", file=sys.stderr)
        return 1
    with open(os.path.join(args.out, "group.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    threads = max(1, cores - cores // 2)
    text = (f"{cores} CPUs; servers on CPUs 0..N-1, the client on CPUs {cores // 2}..{cores - 1} "
            f"({threads} thread{'s' if threads != 1 else ''}); {args.connections_per_loop} connections per loop, "
            f"{args.size} bytes; the faster of {args.repeats} runs of {args.duration} s.\n\n"
            + table(best_rows(rows), servers, loops) + "\n")
    with open(os.path.join(args.out, "group.md"), "w") as f:
        f.write(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
