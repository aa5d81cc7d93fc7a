#!/usr/bin/env python3
"""`make mutants`: seeds each bug of Tests/Mutants/mutants.txt into a copy of the working tree,
one at a time, and checks that the tests named for it fail by an assertion (or a crash) before
a deadline.

The copy lives in .build-mutants/src (ignored by git, like every .build-*), its build in
.build-mutants/scratch, kept warm between mutants and between runs: each mutant costs an
incremental build (the mutated file and what depends on it) and a filtered `swift test`.

For each mutant: apply it (its original text must occur exactly once in its file), build the
tests, run `swift test --skip-build --filter <filter>` under a deadline, restore the file. Verdicts:

  KILLED      the tests failed (an assertion or a crash) before the deadline: the time is recorded
  SURVIVED    the tests passed
  TIMEOUT     the deadline (or a test's time limit) ended the run: only a hang noticed the bug,
              which does not count (issue 13: a failure by assertion within seconds)
  NO-TESTS    the filter matched no test
  BUILD-FAIL  the mutated tree did not compile (fix the entry)
  EQUIVALENT  documented equivalent mutant: not run

Before the mutants, the unmutated tree must pass every selected filter (a baseline run), so that
a failure can only come from the mutation. Exits 1 if any mutant that is not documented as
equivalent is not KILLED, 2 on a malformed list or a failing baseline.

Usage: .ci/mutants.py [--only id1,id2] [--deadline SECONDS] [--list FILE] [--run-equivalent] [--check]
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, ".build-mutants")
SRC = os.path.join(WORK, "src")
SCRATCH = os.path.join(WORK, "scratch")
LOGS = os.path.join(WORK, "logs")
SWIFT = os.environ.get("SWIFT", "swift")
NICE = ["nice", "-n", "10"] if shutil.which("nice") else []
BUILD_DEADLINE = 1800

FIELDS = ("id", "file", "what", "filter", "equivalent", "note")


class ListError(Exception):
    pass


def parse_list(path):
    """The list: entries separated by lines of `---`; `#` lines outside a text block are
    comments. Fields are `name: value` lines; `original:` and `replacement:` are followed by
    text lines, each `|` + the exact text, indentation included (a lone `|` is an empty line)."""
    entries = []
    current = None
    block = None
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    for number, line in enumerate(lines, 1):
        where = f"{path}:{number}"
        if line.strip() == "---":
            if current:
                entries.append(current)
            current, block = None, None
            continue
        if block is not None and line.startswith("|"):
            current[block].append(line[1:])
            continue
        block = None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"^([a-z]+):\s?(.*)$", line)
        if not match:
            raise ListError(f"{where}: expected `field: value`, `|text` or `---`: {line!r}")
        name, value = match.group(1), match.group(2)
        if current is None:
            current = {"line": number}
        if name in ("original", "replacement"):
            if value.strip():
                raise ListError(f"{where}: {name}: takes `|` lines below it")
            if name in current:
                raise ListError(f"{where}: {name} given twice")
            current[name] = []
            block = name
        elif name in FIELDS:
            if name in current:
                raise ListError(f"{where}: {name} given twice")
            current[name] = value.strip()
        else:
            raise ListError(f"{where}: unknown field {name!r}")
    if current:
        entries.append(current)
    seen = set()
    for entry in entries:
        where = f"{path}:{entry['line']}"
        for name in ("id", "file", "what", "filter", "original", "replacement"):
            if name not in entry:
                raise ListError(f"{where}: missing {name}")
        if entry["id"] in seen:
            raise ListError(f"{where}: duplicate id {entry['id']}")
        seen.add(entry["id"])
        entry["original"] = "\n".join(entry["original"])
        entry["replacement"] = "\n".join(entry["replacement"])
        if entry["original"] == entry["replacement"]:
            raise ListError(f"{where}: {entry['id']}: the replacement is the original")
        re.compile(entry["filter"])
    return entries


def check_applies(entry, root):
    path = os.path.join(root, entry["file"])
    if not os.path.isfile(path):
        raise ListError(f"{entry['id']}: no such file {entry['file']}")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    count = text.count(entry["original"])
    if count != 1:
        raise ListError(f"{entry['id']}: the original text occurs {count} times in {entry['file']} "
                        f"(must be exactly once):\n{entry['original']}")
    return text


def tracked_and_untracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, stdout=subprocess.PIPE).stdout
    return sorted({name for name in out.decode().split("\0") if name and os.path.isfile(os.path.join(ROOT, name))})


def sync_tree():
    """Copies the working tree into SRC, touching only files whose content differs (unchanged
    files keep their times, so the build stays incremental); removes files no longer there."""
    os.makedirs(SRC, exist_ok=True)
    wanted = tracked_and_untracked_files()
    copied = 0
    for name in wanted:
        source, target = os.path.join(ROOT, name), os.path.join(SRC, name)
        if os.path.isfile(target):
            with open(source, "rb") as a, open(target, "rb") as b:
                if a.read() == b.read():
                    continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
        copied += 1
    keep = set(wanted)
    removed = 0
    for directory, subdirs, files in os.walk(SRC):
        subdirs[:] = [d for d in subdirs if not (directory == SRC and d.startswith(".build"))]
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), SRC)
            if relative not in keep:
                os.remove(os.path.join(directory, name))
                removed += 1
    return copied, removed


def descendants(root):
    """The processes below `root` (from /proc): `swift test` starts the test binary in a process
    group of its own, so killing the group alone would leave a hung test running."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    found, pending = [], [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def kill_tree(process):
    below = descendants(process.pid)
    for target in [process.pid] + below:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(command, log, deadline):
    """Runs `command` in SRC in a process group of its own; kills the group at the deadline.
    Returns (exit status or None on the deadline, seconds, output)."""
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        process = subprocess.Popen(command, cwd=SRC, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            status = process.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            kill_tree(process)
            process.wait()
            status = None
    seconds = time.monotonic() - start
    with open(log, encoding="utf-8", errors="replace") as handle:
        output = handle.read()
    return status, seconds, output


def build(log):
    return run(NICE + [SWIFT, "build", "--build-tests", "--scratch-path", SCRATCH], log, BUILD_DEADLINE)


def test(filter_regex, log, deadline):
    return run(NICE + [SWIFT, "test", "--skip-build", "--scratch-path", SCRATCH, "--filter", filter_regex],
               log, deadline)


def tests_run(output):
    match = re.findall(r"Test run with (\d+) tests?", output)
    return int(match[-1]) if match else None


def tail(output, lines=15):
    return "\n".join("    " + line for line in output.rstrip().split("\n")[-lines:])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", default=os.path.join(ROOT, "Tests", "Mutants", "mutants.txt"))
    parser.add_argument("--only", default="", help="comma-separated ids (default: all)")
    parser.add_argument("--deadline", type=float, default=120, help="seconds per filtered test run")
    parser.add_argument("--run-equivalent", action="store_true", help="run the equivalent mutants too")
    parser.add_argument("--check", action="store_true", help="only check that every entry applies")
    args = parser.parse_args()
    started = time.monotonic()

    try:
        entries = parse_list(args.list)
        if args.only.strip():
            wanted = [name.strip() for name in args.only.split(",") if name.strip()]
            known = {entry["id"]: entry for entry in entries}
            unknown = [name for name in wanted if name not in known]
            if unknown:
                raise ListError(f"unknown mutant id(s): {', '.join(unknown)}")
            entries = [known[name] for name in wanted]
        for entry in entries:
            check_applies(entry, ROOT)
    except ListError as error:
        print(f"mutants: {error}", file=sys.stderr)
        return 2
    if args.check:
        print(f"mutants: {len(entries)} entries apply")
        return 0

    os.makedirs(LOGS, exist_ok=True)
    copied, removed = sync_tree()
    print(f"mutants: {len(entries)} selected; tree synced into {os.path.relpath(SRC, ROOT)} "
          f"({copied} file(s) copied, {removed} removed)", flush=True)

    to_run = [entry for entry in entries if args.run_equivalent or "equivalent" not in entry]
    # Baseline: the unmutated tree builds and passes every filter that will be used.
    status, seconds, output = build(os.path.join(LOGS, "baseline-build.log"))
    if status != 0:
        print(f"mutants: the unmutated tree does not build ({seconds:.0f} s):\n{tail(output)}", file=sys.stderr)
        return 2
    print(f"mutants: baseline build {seconds:.0f} s", flush=True)
    if to_run:
        union = "|".join(f"(?:{entry['filter']})" for entry in to_run)
        status, seconds, output = test(union, os.path.join(LOGS, "baseline-test.log"), args.deadline * 2)
        if status != 0:
            print(f"mutants: the unmutated tree fails the selected filters ({seconds:.0f} s; "
                  f"{os.path.relpath(LOGS, ROOT)}/baseline-test.log):\n{tail(output)}", file=sys.stderr)
            return 2
        print(f"mutants: baseline tests pass ({tests_run(output)} tests, {seconds:.1f} s)", flush=True)

    results = []
    for entry in entries:
        ident = entry["id"]
        if "equivalent" in entry and not args.run_equivalent:
            results.append((ident, "EQUIVALENT", None, None, entry["equivalent"]))
            print(f"[{len(results)}/{len(entries)}] {ident}: EQUIVALENT ({entry['equivalent']})", flush=True)
            continue
        path = os.path.join(SRC, entry["file"])
        try:
            pristine = check_applies(entry, SRC)
        except ListError as error:
            print(f"mutants: {error}", file=sys.stderr)
            return 2
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(pristine.replace(entry["original"], entry["replacement"], 1))
        try:
            status, build_seconds, output = build(os.path.join(LOGS, f"{ident}.build.log"))
            if status != 0:
                verdict, test_seconds, detail = "BUILD-FAIL", None, tail(output)
            else:
                status, test_seconds, output = test(entry["filter"], os.path.join(LOGS, f"{ident}.test.log"),
                                                    args.deadline)
                count = tests_run(output)
                if status is None:
                    verdict, detail = "TIMEOUT", f"killed at the {args.deadline:.0f} s deadline"
                elif "Time limit was exceeded" in output and status != 0:
                    verdict, detail = "TIMEOUT", "a test's time limit ended it"
                elif status == 0 and count == 0:
                    verdict, detail = "NO-TESTS", f"no test matches {entry['filter']!r}"
                elif status == 0:
                    verdict, detail = "SURVIVED", f"{count} test(s) passed"
                else:
                    failed = re.findall(r'✘ Test "?([^"\n]*?)"? (?:recorded an issue|failed)', output)
                    first = failed[0] if failed else f"exit status {status}"
                    verdict, detail = "KILLED", first[:90]
        finally:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(pristine)
        results.append((ident, verdict, build_seconds, test_seconds, detail))
        timing = f"build {build_seconds:.0f} s" + (f", tests {test_seconds:.1f} s" if test_seconds is not None else "")
        print(f"[{len(results)}/{len(entries)}] {ident}: {verdict} ({timing}): {detail}", flush=True)
        if verdict in ("BUILD-FAIL",):
            print(detail, flush=True)

    total = time.monotonic() - started
    width = max([len(r[0]) for r in results] + [6])
    print("\n" + f"{'mutant':<{width}}  {'verdict':<10}  {'build s':>7}  {'test s':>7}  detail")
    for ident, verdict, build_seconds, test_seconds, detail in results:
        b = f"{build_seconds:.0f}" if build_seconds is not None else "-"
        t = f"{test_seconds:.1f}" if test_seconds is not None else "-"
        print(f"{ident:<{width}}  {verdict:<10}  {b:>7}  {t:>7}  {detail.splitlines()[0] if detail else ''}")
    not_killed = [r[0] for r in results if r[1] not in ("KILLED", "EQUIVALENT")]
    killed = sum(1 for r in results if r[1] == "KILLED")
    equivalent = sum(1 for r in results if r[1] == "EQUIVALENT")
    print(f"\nmutants: {killed} killed, {equivalent} equivalent, {len(not_killed)} not killed; "
          f"total {total / 60:.1f} min (logs in {os.path.relpath(LOGS, ROOT)})")
    if not_killed:
        print(f"mutants: NOT KILLED: {', '.join(not_killed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
