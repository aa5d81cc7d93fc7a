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

Why the event stream: a hung test binary prints nothing. Its console output goes through a pipe,
block-buffered, and is lost when it is killed; the event stream is written as events happen.
Why the whole process session: `swift test` starts the test binary in a process group of its own,
so killing `swift test` alone leaves the binary running.

Swift Testing's `.timeLimit` trait (on every suite here) only records an issue and cancels the
test's task: a test that ignores cancellation (a never-resumed continuation, a blocked thread,
a spin) goes on running, and so does the run. This deadline is what ends such a run.
"""

import json
import os
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
    """Lines naming each test function that started and did not end, with its open test cases
    and the issues it recorded; and whether the run itself had started."""
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

    lines = []
    for test_id in started:
        test = tests.get(test_id, {})
        if test_id in ended or test.get("kind") != "function":
            continue  # suites are the tests' parents: naming the tests is enough
        location = test.get("sourceLocation", {})
        where = f"{location.get('fileID', '?')}:{location.get('line', '?')}"
        suite = tests.get(test_id.split("/")[0], {}).get("displayName") or test_id.split("/")[0]
        function = test.get("name", test_id)
        if test.get("displayName"):
            line = f"  {suite} / \"{test['displayName']}\" ({function}, {where})"
        else:
            line = f"  {suite} / {function} ({where})"
        if cases.get(test_id):
            line += f"\n      running cases: {', '.join(cases[test_id])}"
        for issue in issues.get(test_id, []):
            line += f"\n      issue: {issue}"
        lines.append((0 if test_id in issues else 1, line))
    lines.sort(key=lambda entry: entry[0])  # the ones with an issue (a time limit) first
    return [line for _, line in lines], run_started


def report(records, heading):
    lines, run_started = unfinished_tests(records)
    out = [heading]
    if not run_started:
        out.append("  the test run had not started (still building, or the test binary did not start)")
    elif not lines:
        out.append("  no test was left running (the hang is outside the tests, e.g. at the end of the run)")
    else:
        out.append(f"  {len(lines)} test(s) started and never finished:")
        out.extend(lines[:MAX_LISTED])
        if len(lines) > MAX_LISTED:
            out.append(f"  ... and {len(lines) - MAX_LISTED} more. In a parallel run a test counts as started "
                       "when it is scheduled: a long list means the cooperative pool's threads are all blocked.")
    sys.stderr.write("\n".join(out) + "\n")
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
            report(read_events(events),
                   f"swift-test-deadline: the tests ran past their deadline of {seconds:g} s; stopping them.")
            stop_session(process)
            return 124
        if status != 0:
            lines, _ = unfinished_tests(read_events(events))
            if lines:
                report(read_events(events), f"swift-test-deadline: the tests failed (exit status {status}) "
                                            "while these were running:")
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
