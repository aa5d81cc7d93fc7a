#!/usr/bin/env python3
"""The echo benchmark's driver: every server x message size x connection count, against the
load generator Benchmarks/.build/release/multiloop-echo-client (docs/benchmarks.md, "Echo
server"). Run from the repository root, after building the Benchmarks package in release mode
(`make echo` does both, then draws the report with echo_report.py):

    .build-python/venv/bin/python Benchmarks/python/echo_bench.py --csv .build-echo/echo.csv

For each point, the server is started pinned to --server-cpus (`taskset -c 0`) on a free port,
the driver waits until the port accepts, and the client runs pinned to --client-cpus
(`taskset -c 1`): --warmup seconds, then --duration measured seconds. The server is then stopped
(SIGTERM to its process group, SIGKILL after 5 s) and the driver checks that no process of that
group is left. Within a repetition the servers take turns at each point (and the order rotates
from one repetition to the next), so what disturbs the machine meanwhile hits them all alike.

Servers (SERVERS below is the table; a server is a command line that listens on {host}:{port}
and echoes every byte back until SIGTERM): echo-ceiling (the minimal C epoll server: the ceiling
that shows the client is not the bottleneck), multiloop-streams and multiloop-protocols
(MultiLoop: Benchmarks/Sources/EchoMultiLoop; skipped with a message if not built), nio
(SwiftNIO), uvloop-streams, uvloop-protocols, asyncio-streams, asyncio-protocols (echo_server.py,
with the interpreter given by --python, which needs uvloop for the uvloop ones).

The CSV (written to PATH.partial while running, renamed at the end) has one row per run:
    server,size,connections,repeat,requests,seconds,requests_per_sec,p50_us,p99_us,max_us,
    mean_us,bytes,errors,client_cpu_percent,server_cpu_percent,client_threads,server_cpus,
    client_cpus,cores,status
client_cpu_percent is the client's CPU time over the measured seconds; server_cpu_percent the
server process's CPU time over the client's whole run (warm-up included), both as a share of one
CPU. status is "ok", or what went wrong (the row's figures are then whatever the client managed).

Exit status: 0 every run was ok; 1 a run failed (a server that did not start or died, a client
error, a mismatched byte, a lost connection) or a process was left over; 2 usage.
"""

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ---------------------------------------------------------------------------------------------
# The servers. Each entry: name, the command line (a list; {bin} is --bin-dir, {python} the
# --python interpreter, {here} this directory, {host} and {port} where to listen, {threads}
# --server-threads for servers that take a thread count), and what it needs to run: "binary"
# (the first word must be an executable file), or "uvloop" (the interpreter must import uvloop).
# A server whose needs are not met is skipped with a message, and the run goes on without it.
#
# The MultiLoop servers: `echo-multiloop` (Benchmarks/Sources/EchoMultiLoop), with
# `--impl streams` (start_server-style: read, write, drain) and `--impl protocols` (the raw
# readiness callbacks: recv, send), `--host`, `--port` and `--threads` (loops; 1 by default),
# running until SIGTERM.
SERVERS = [
    ("echo-ceiling", ["{bin}/echo-ceiling", "--host", "{host}", "--port", "{port}"], "binary"),
    ("multiloop-streams", ["{bin}/echo-multiloop", "--impl", "streams", "--host", "{host}",
                           "--port", "{port}", "--threads", "{threads}"], "binary"),
    ("multiloop-protocols", ["{bin}/echo-multiloop", "--impl", "protocols", "--host", "{host}",
                             "--port", "{port}", "--threads", "{threads}"], "binary"),
    ("nio", ["{bin}/echo-nio", "--host", "{host}", "--port", "{port}", "--threads", "{threads}"],
     "binary"),
    ("uvloop-streams", ["{python}", "{here}/echo_server.py", "--impl", "uvloop-streams",
                        "--host", "{host}", "--port", "{port}"], "uvloop"),
    ("uvloop-protocols", ["{python}", "{here}/echo_server.py", "--impl", "uvloop-protocols",
                          "--host", "{host}", "--port", "{port}"], "uvloop"),
    ("asyncio-streams", ["{python}", "{here}/echo_server.py", "--impl", "asyncio-streams",
                         "--host", "{host}", "--port", "{port}"], None),
    ("asyncio-protocols", ["{python}", "{here}/echo_server.py", "--impl", "asyncio-protocols",
                           "--host", "{host}", "--port", "{port}"], None),
]
SERVER_NAMES = [name for name, _, _ in SERVERS]

HEADER = ["server", "size", "connections", "repeat", "requests", "seconds", "requests_per_sec",
          "p50_us", "p99_us", "max_us", "mean_us", "bytes", "errors", "client_cpu_percent",
          "server_cpu_percent", "client_threads", "server_cpus", "client_cpus", "cores", "status"]

START_TIMEOUT = 30.0   # seconds for a server to accept (Python + uvloop on a busy machine)
STOP_TIMEOUT = 5.0     # seconds between SIGTERM and SIGKILL


class RunError(Exception):
    pass


def log(quiet, text):
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def int_list(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, not {text!r}")
    return values


def cpu_list(text):
    """Validates a taskset CPU list ("0", "1-3", "0,2") against this process's CPUs."""
    cpus = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a CPU list: {text!r}")
    unknown = cpus - os.sched_getaffinity(0)
    if not cpus or unknown:
        raise argparse.ArgumentTypeError(f"CPU list {text!r} names CPUs this process cannot use: "
                                         f"{sorted(unknown)}")
    return text


# ---------------------------------------------------------------------------------------------
# Processes


def free_port(host, used):
    """A port the kernel says is free now (bind to port 0), not handed out earlier in this run."""
    for _ in range(100):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in used:
            used.add(port)
            return port
    raise RunError("no free port")


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads), from /proc; None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_members(pgid):
    """PIDs of the live processes in process group `pgid` (zombies excluded)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


class ServerProcess:
    """A server started in a session (and process group) of its own, pinned with taskset."""

    def __init__(self, name, argv, cpus, log_path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(["taskset", "-c", cpus] + argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pgid = self.proc.pid   # start_new_session: the leader's pid is the group's id

    def log_tail(self, lines=5):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def wait_accepting(self, host, port):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RunError(f"{self.name} exited with status {self.proc.returncode} before "
                               f"accepting: {self.log_tail() or 'no output'}")
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RunError(f"{self.name} did not accept on port {port} within "
                               f"{START_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def stop(self):
        """SIGTERM to the group, SIGKILL STOP_TIMEOUT later if any of it is still alive; returns
        the PIDs alive after that (none, normally)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline:
                self.proc.poll()   # reaps the leader, so that it does not linger as a zombie
                if not group_members(self.pgid):
                    break
                time.sleep(0.02)
            else:
                continue
            break
        self.proc.poll()
        self.log.close()
        return group_members(self.pgid)


# ---------------------------------------------------------------------------------------------
# The benchmark


def server_needs(name, argv, needs, python):
    """None when the server can run here, otherwise why it is skipped."""
    if needs == "binary":
        if not (os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK)):
            why = f"{os.path.relpath(argv[0], ROOT)} is not built"
            if name.startswith("multiloop-"):
                why += (" (the MultiLoop echo servers plug in as that executable; see the SERVERS "
                        "table in Benchmarks/python/echo_bench.py)")
            return why
    elif needs == "uvloop":
        if subprocess.run([python, "-c", "import uvloop"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            return f"{python} cannot import uvloop (Benchmarks/python/ensure-python.sh --with uvloop)"
    return None


def command_line(template, args, host, port):
    values = {"bin": args.bin_dir, "python": args.python, "here": HERE, "host": host,
              "port": str(port), "threads": str(args.server_threads)}
    return [word.format(**values) for word in template]


def start_server(name, template, args, used_ports, logs_dir, started):
    """The server, accepting on a free port, and that port; (None, why) when it would not start.
    Each process group started is added to `started`."""
    problem = None
    for _ in range(3):   # a port taken between free_port() and the server's bind: retry
        port = free_port(args.host, used_ports)
        server = ServerProcess(name, command_line(template, args, args.host, port),
                               args.server_cpus, os.path.join(logs_dir, f"{name}.log"))
        started.append(server.pgid)
        try:
            server.wait_accepting(args.host, port)
        except BaseException as e:   # RunError, or an interruption: stop it either way
            left = server.stop()
            if left:
                raise RunError(f"{name}: processes {left} survived SIGKILL")
            if not isinstance(e, RunError):
                raise
            problem = str(e)
            continue
        return server, port
    return None, problem


def run_point(name, template, size, connections, repeat, args, used_ports, logs_dir, started):
    """Starts the server, runs the client against it, stops the server; returns the CSV row."""
    row = {"server": name, "size": size, "connections": connections, "repeat": repeat,
           "client_threads": min(args.client_threads, connections),
           "server_cpus": args.server_cpus, "client_cpus": args.client_cpus,
           "cores": len(os.sched_getaffinity(0)), "status": "ok"}
    for key in ("requests", "seconds", "requests_per_sec", "p50_us", "p99_us", "max_us",
                "mean_us", "bytes", "errors", "client_cpu_percent", "server_cpu_percent"):
        row[key] = ""
    server, port = None, None
    try:
        server, port = start_server(name, template, args, used_ports, logs_dir, started)
        if server is None:
            row["status"] = f"server did not start: {port}"
            return row
        cpu_before = cpu_seconds(server.proc.pid)
        started_at = time.monotonic()
        client = [os.path.join(args.bin_dir, "multiloop-echo-client"), "--host", args.host,
                  "--port", str(port), "--connections", str(connections), "--size", str(size),
                  "--duration", str(args.duration), "--warmup", str(args.warmup),
                  "--threads", str(args.client_threads)]
        try:
            done = subprocess.run(["taskset", "-c", args.client_cpus] + client,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=args.warmup + args.duration + 60)
        except subprocess.TimeoutExpired:
            row["status"] = "client timed out"
            return row
        elapsed = time.monotonic() - started_at
        cpu_after = cpu_seconds(server.proc.pid)
        if cpu_before is not None and cpu_after is not None:
            row["server_cpu_percent"] = round(100 * (cpu_after - cpu_before) / elapsed, 1)
        result = None
        for line in reversed(done.stdout.decode(errors="replace").splitlines()):
            if line.startswith("{"):
                result = json.loads(line)
                break
        if result is not None:
            row.update({k: result[k] for k in ("requests", "requests_per_sec", "p50_us",
                                               "p99_us", "max_us", "mean_us", "bytes", "errors",
                                               "client_cpu_percent")})
            row["seconds"] = result["duration_s"]
        if done.returncode != 0 or result is None:
            why = done.stderr.decode(errors="replace").strip().replace("\n", " | ")
            row["status"] = f"client exited {done.returncode}: {why or 'no output'}"
        if server.proc.poll() is not None:
            row["status"] = (f"server exited with status {server.proc.returncode} during the run: "
                             f"{server.log_tail() or 'no output'}")
        return row
    finally:
        if server is not None:
            left = server.stop()
            if left:
                raise RunError(f"{name}: processes {left} survived SIGKILL")


def leftovers(pgids):
    """`ps` lines of processes in any of the process groups this run started (none, normally)."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    wanted = set(pgids)
    lines = []
    for line in out.splitlines():
        fields = line.split(None, 3)
        if len(fields) >= 3 and int(fields[1]) in wanted and not fields[2].startswith("Z"):
            lines.append(line.strip())
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(prog="echo_bench.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default=",".join(SERVER_NAMES),
                    help="comma-separated servers, in this order (default: all of %(default)s)")
    ap.add_argument("--sizes", type=int_list, default=[1024, 10240, 102400],
                    help="message sizes in bytes (default: 1024,10240,102400)")
    ap.add_argument("--connections", type=int_list, default=[1, 10, 50],
                    help="connection counts (default: 1,10,50)")
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions of the whole plan")
    ap.add_argument("--server-cpus", type=cpu_list, default="0",
                    help="taskset CPU list for the servers (default: %(default)s)")
    ap.add_argument("--client-cpus", type=cpu_list, default="1",
                    help="taskset CPU list for the client (default: %(default)s)")
    ap.add_argument("--client-threads", type=int, default=1,
                    help="client threads (epoll loops) to spread the connections over")
    ap.add_argument("--server-threads", type=int, default=1,
                    help="threads (event loops) for the servers that take a count (nio, "
                         "multiloop-*); the others have one")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "Benchmarks/.build/release"),
                    help="where the Benchmarks package's executables are (default: %(default)s)")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter for the Python servers (default: this one)")
    ap.add_argument("--csv", default=os.path.join(ROOT, ".build-echo/echo.csv"),
                    help="where the rows go (default: %(default)s)")
    ap.add_argument("--list", action="store_true",
                    help="list the servers and whether each can run here, then exit")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    # SIGTERM (make interrupted, a CI timeout) unwinds like Ctrl-C, so the running server is
    # stopped too: each server runs in a session of its own, which no terminal signal reaches.
    signal.signal(signal.SIGTERM, interrupt)
    if args.duration <= 0 or args.warmup < 0 or args.repeats < 1:
        ap.error("--duration must be positive, --warmup 0 or more, --repeats at least 1")
    if args.client_threads < 1 or args.server_threads < 1:
        ap.error("--client-threads and --server-threads must be at least 1")
    chosen = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SERVER_NAMES]
    if unknown or not chosen:
        ap.error(f"unknown servers {unknown}; known: {', '.join(SERVER_NAMES)}")
    table = {name: (template, needs) for name, template, needs in SERVERS}

    servers = []
    for name in chosen:
        template, needs = table[name]
        why = server_needs(name, command_line(template, args, args.host, 0), needs, args.python)
        if args.list:
            print(f"{name:20} {'skipped: ' + why if why else 'ready'}")
        elif why:
            log(False, f"echo_bench.py: skipping {name}: {why}")
        else:
            servers.append((name, template))
    if args.list:
        return 0
    client = os.path.join(args.bin_dir, "multiloop-echo-client")
    if not os.access(client, os.X_OK):
        print(f"echo_bench.py: {client} is not built (cd Benchmarks && swift build -c release)",
              file=sys.stderr)
        return 1
    if not servers:
        print("echo_bench.py: no server can run", file=sys.stderr)
        return 1

    out_dir = os.path.dirname(os.path.abspath(args.csv))
    logs_dir = os.path.join(out_dir, "logs")
    os.makedirs(logs_dir, exist_ok=True)
    partial = args.csv + ".partial"
    total = args.repeats * len(args.sizes) * len(args.connections) * len(servers)
    log(args.quiet, f"echo_bench.py: {len(servers)} servers x {len(args.sizes)} sizes x "
                    f"{len(args.connections)} connection counts x {args.repeats} repeats = {total} "
                    f"runs of {args.warmup} + {args.duration} s; servers on CPUs "
                    f"{args.server_cpus}, client on {args.client_cpus}")
    used_ports = set()
    started = []   # process groups of every server started
    failures = 0
    count = 0
    interrupted = False
    with open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        try:
            for repeat in range(1, args.repeats + 1):
                shift = (repeat - 1) % len(servers)
                order = servers[shift:] + servers[:shift]
                for size in args.sizes:
                    for connections in args.connections:
                        for name, template in order:
                            count += 1
                            row = run_point(name, template, size, connections, repeat, args,
                                            used_ports, logs_dir, started)
                            writer.writerow(row)
                            f.flush()
                            if row["status"] != "ok":
                                failures += 1
                            log(args.quiet, progress(count, total, row))
        except RunError as e:
            print(f"echo_bench.py: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            interrupted = True
    stray = leftovers(started)
    if stray:
        print("echo_bench.py: processes left over from the servers:\n  " + "\n  ".join(stray),
              file=sys.stderr)
        return 1
    log(args.quiet, f"echo_bench.py: ps shows none of the {len(started)} servers' processes left")
    if interrupted:
        print(f"echo_bench.py: interrupted; the rows so far are in {partial}", file=sys.stderr)
        return 1
    os.replace(partial, args.csv)
    log(args.quiet, f"echo_bench.py: wrote {args.csv} ({count} runs, {failures} failed)")
    return 1 if failures else 0


def interrupt(signum, frame):
    raise KeyboardInterrupt()


def progress(count, total, row):
    head = (f"[{count}/{total}] {row['server']} size={row['size']} "
            f"connections={row['connections']} repeat={row['repeat']}: ")
    if row["requests_per_sec"] == "":
        return head + row["status"]
    text = (f"{row['requests_per_sec']:,.0f} req/s, p50 {row['p50_us']} µs, p99 {row['p99_us']} µs"
            f" (CPU: server {row['server_cpu_percent']}%, client {row['client_cpu_percent']}%)")
    return head + text + ("" if row["status"] == "ok" else f"; {row['status']}")


if __name__ == "__main__":
    sys.exit(main())
