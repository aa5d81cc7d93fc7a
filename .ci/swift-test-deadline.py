#!/usr/bin/env python3
"""Run `swift test` with a deadline, and name the tests that hang.

    python3 .ci/swift-test-deadline.py SECONDS [--events PATH] -- swift test [ARGS...]

The command runs with Swift Testing's event stream written to a file (`--event-stream-output-path
PATH --event-stream-version 0` are appended to it). Its output passes through unchanged, and its
exit status is this script's.

If it is still running after SECONDS, the script names the tests that started and never finished
(with the issues they recorded, such as "Time limit was exceeded"), stops the command and every
process it started (SIGTERM, then SIGKILL after 5 s), and exits 124. When the command fails on its
own (a crash, a ThreadSanitizer report), the tests that were running are named too.

In a parallel run every test is "started" when it is scheduled, so when the hang blocks the
cooperative pool's threads nearly every test is left unfinished. So, where gdb is installed, the
script also reads the stacks of the test binary's threads before stopping it: a test function on a
thread's stack (blocked in a wait, or spinning) is listed first, with the frames above it.

Why the event stream: written into a pipe or a file, as in CI, a test binary's console output is
block-buffered, so its last lines (for a short run, all of them) are lost when a hung binary is
killed; the event stream is written as events happen.
Why the whole process session: `swift test` starts the test binary in a process group of its own,
so killing `swift test` alone leaves the binary running.

Swift Testing's `.timeLimit` trait (on every suite here) only records an issue and cancels the
test's task: a test that ignores cancellation (a never-resumed continuation, a blocked thread,
a spin) goes on running, and so does the run. This deadline is what ends such a run.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TERM_GRACE_SECONDS = 5
MAX_LISTED = 30


def usage(message):
    sys.stderr.write(f"swift-test-deadline: {message}\n"
                     "usage: swift-test-deadline.py SECONDS [--events PATH] -- swift test [ARGS...]\n")
    sys.exit(2)


def parse_arguments(argv):
    if "--" not in argv:
        usage("missing -- before the command")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    if not command:
        usage("no command after --")
    events = None
    if len(options) == 3 and options[1] == "--events":
        events = options[2]
    elif len(options) != 1:
        usage("expected SECONDS [--events PATH] before --")
    try:
        seconds = float(options[0])
    except ValueError:
        usage(f"not a number of seconds: {options[0]!r}")
    if seconds <= 0:
        usage("the deadline must be positive")
    return seconds, events, command


def read_events(path):
    """The event stream's records; a last line cut short by the kill is skipped."""
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return records


def unfinished_tests(records):
    """The test functions that started and did not end, in order of start: for each, its id, a
    line naming it, its open test cases and the issues it recorded; and whether the run started."""
    tests, started, ended, cases, issues = {}, [], set(), {}, {}
    run_started = False
    for record in records:
        payload = record.get("payload", {})
        if record.get("kind") == "test":
            tests[payload.get("id")] = payload
            continue
        kind, test_id = payload.get("kind"), payload.get("testID")
        if kind == "runStarted":
            run_started = True
        elif kind == "testStarted" and test_id not in started:
            started.append(test_id)
        elif kind in ("testEnded", "testSkipped"):
            ended.add(test_id)
        elif kind in ("testCaseStarted", "testCaseEnded"):
            case = (payload.get("_testCase") or {}).get("displayName")
            if case is not None:
                open_cases = cases.setdefault(test_id, [])
                if kind == "testCaseStarted":
                    open_cases.append(case)
                elif case in open_cases:
                    open_cases.remove(case)
        elif kind == "issueRecorded":
            texts = [m.get("text", "") for m in payload.get("messages", [])]
            issues.setdefault(test_id, []).append(texts[0] if texts else "an issue")

    entries = []
    for test_id in started:
        test = tests.get(test_id, {})
        if test_id in ended or test.get("kind") != "function":
            continue  # suites are the tests' parents: naming the tests is enough
        location = test.get("sourceLocation", {})
        where = f"{location.get('fileID', '?')}:{location.get('line', '?')}"
        suite_id = test_id.split("/")[0]
        suite = tests.get(suite_id, {}).get("displayName") or suite_id
        function = test.get("name", test_id)
        if test.get("displayName"):
            name = f"  {suite} / \"{test['displayName']}\" ({function}, {where})"
        else:
            name = f"  {suite} / {function} ({where})"
        # How the function appears in a demangled frame: its type path without the module.
        type_path = suite_id.split(".", 1)[1] if "." in suite_id else suite_id
        frame = type_path + "." + function.split("(")[0] + "("
        entries.append({"name": name, "frame": frame, "cases": cases.get(test_id, []),
                        "issues": issues.get(test_id, [])})
    return entries, run_started


def demangle(symbols):
    """Swift symbols demangled in the simplified form, through the toolchain's swift-demangle."""
    tool = shutil.which("swift-demangle")
    command = [tool, "--simplified"] if tool else ["swift", "demangle", "--simplified"]
    try:
        output = subprocess.run(command, input="\n".join(symbols) + "\n", capture_output=True,
                                text=True, timeout=60).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(zip(symbols, output)) if len(output) == len(symbols) else {}


def thread_stacks(pid):
    """The frames (innermost first, demangled) of each thread of a running process, read by gdb;
    None when gdb is not installed or fails."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return None
    try:
        output = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
                                 "-ex", "thread apply all bt"], capture_output=True, text=True,
                                errors="replace", timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    stacks = []
    for line in output.splitlines():
        if line.startswith("Thread "):
            stacks.append([])
        elif stacks:
            match = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", line)
            if match:
                stacks[-1].append(match.group(1))
    names = demangle(sorted({symbol for stack in stacks for symbol in stack if symbol.startswith("$s")}))
    return [[names.get(symbol, symbol) for symbol in stack] for stack in stacks]


def test_binaries(session):
    """The processes of the session that are test binaries (swift test runs NAME.xctest)."""
    binaries = []
    for pid in session_processes(session):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                program = cmdline.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if program.endswith(".xctest"):
            binaries.append(pid)
    return binaries


def report(heading, records, session=None):
    entries, run_started = unfinished_tests(records)
    out = [heading]
    if not run_started:
        out.append("  the test run had not started (still building, or the test binary did not start)")
    elif not entries:
        out.append("  no test was left running (the hang is outside the tests, e.g. at the end of the run)")
    else:
        stacks = None
        if session is not None:
            stacks = [stack for pid in test_binaries(session) for stack in thread_stacks(pid) or []] or None
        for entry in entries:
            entry["threads"] = []
            for stack in stacks or []:
                depth = next((i for i, frame in enumerate(stack) if entry["frame"] in frame), None)
                if depth is not None:
                    above = stack[:depth + 1][-5:]  # the test's frame and up to 4 frames above it
                    entry["threads"].append(" < ".join(above))
        entries.sort(key=lambda entry: (not entry["threads"], not entry["issues"]))
        # A test on a thread's stack or with an issue is known to be running; when there are such
        # tests, the others are most likely only scheduled, behind them.
        known = [entry for entry in entries if entry["threads"] or entry["issues"]]
        listed = known or entries[:MAX_LISTED]
        out.append(f"  {len(entries)} test(s) started and never finished"
                   + (", on a thread's stack (innermost frame first) or with an issue:" if known else ":"))
        for entry in listed:
            out.append(entry["name"])
            for thread in entry["threads"]:
                out.append(f"      on a thread: {thread}")
            if entry["cases"]:
                out.append(f"      running cases: {', '.join(entry['cases'])}")
            for issue in entry["issues"]:
                out.append(f"      issue: {issue}")
        if len(entries) > len(listed):
            more = f"  ... and {len(entries) - len(listed)} more"
            out.append(more + (", on no thread's stack: scheduled, most likely, and held back by the hang." if known
                               else ": in a parallel run a test counts as started when it is scheduled, so a long "
                               "list means the cooperative pool's threads are blocked."))
        if session is not None and stacks is None:
            out.append("  (no thread stacks: gdb is not installed, or could not read the test binary)")
    sys.stderr.write("\n" + "\n".join(out) + "\n")  # the test output may stop mid-line
    sys.stderr.flush()


def session_processes(session):
    """The processes of a session, found through /proc (they may have left its process group)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields: state ppid pgrp session ...; a zombie is already gone, only not yet reaped
        if int(fields[3]) == session and fields[0] != "Z" and int(entry) != os.getpid():
            pids.append(int(entry))
    return pids


def stop_session(process):
    """SIGTERM to every process of the command's session, SIGKILL to what is left after a grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_processes(process.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + TERM_GRACE_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None and not session_processes(process.pid):
                return
            time.sleep(0.1)


def main():
    seconds, events, command = parse_arguments(sys.argv[1:])
    directory = None
    if events is None:
        directory = tempfile.mkdtemp(prefix="swift-test-events-")
        events = os.path.join(directory, "events.jsonl")
    elif os.path.exists(events):
        os.remove(events)  # Swift Testing appends; a stale stream would name old tests
    command = command + ["--event-stream-output-path", events, "--event-stream-version", "0"]

    # A session of its own: every process the command starts, the test binary included, is in it.
    process = subprocess.Popen(command, start_new_session=True)

    def interrupted(signum, _frame):
        stop_session(process)
        sys.exit(128 + signum)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)

    try:
        try:
            status = process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            report(f"swift-test-deadline: the tests ran past their deadline of {seconds:g} s; stopping them.",
                   read_events(events), session=process.pid)
            stop_session(process)
            return 124
        if status != 0 and unfinished_tests(read_events(events))[0]:
            report(f"swift-test-deadline: the tests failed (exit status {status}) while these were running:",
                   read_events(events))
        return status if status >= 0 else 128 - status
    finally:
        stop_session(process)  # nothing the command started outlives it
        if directory is not None:
            try:
                os.remove(events)
            except FileNotFoundError:
                pass
            os.rmdir(directory)


if __name__ == "__main__":
    sys.exit(main())
