#!/usr/bin/env bash
# Checks the `multiloop` command line: exit status 2 and a message for bad usage, --help that
# names every scenario and option, a short run that exits 0, and --json output that parses.
set -u
bin="$1"
failures=0

expect_status() {
    local want="$1"; shift
    "$bin" "$@" >/tmp/multiloop-cli.out 2>/tmp/multiloop-cli.err
    local got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: multiloop $* exited $got, expected $want"; cat /tmp/multiloop-cli.err; failures=$((failures + 1))
    fi
}

expect_status 2 stress --loops 0
grep -q -- "--loops must be 1 to 1024" /tmp/multiloop-cli.err || { echo "FAIL: no message for --loops 0"; failures=$((failures + 1)); }
expect_status 2 stress --bogus
expect_status 2 stress nonsense
expect_status 2 stress --duration -1
expect_status 2 stress --duration 1 --count 5
expect_status 2 stress --count abc
expect_status 2 frobnicate
expect_status 0 stress --help
for word in fan-in ring timers tasks shutdown faults all --loops --producers --duration --count --seed --pin --spin-us --json --quiet; do
    grep -q -- "$word" /tmp/multiloop-cli.out || { echo "FAIL: stress --help does not mention $word"; failures=$((failures + 1)); }
done
expect_status 0 stress fan-in --count 20000 --loops 2 --producers 2 --quiet
grep -q "every invariant held" /tmp/multiloop-cli.out || { echo "FAIL: no summary"; failures=$((failures + 1)); }
expect_status 0 stress fan-in shutdown --count 2000 --loops 2 --producers 2 --quiet --json
python3 -c 'import json,sys; r=json.load(open("/tmp/multiloop-cli.out")); assert [s["scenario"] for s in r["scenarios"]] == ["fan-in", "shutdown"], r; assert all(s["violationCount"] == 0 for s in r["scenarios"])' \
    || { echo "FAIL: --json output"; failures=$((failures + 1)); }
expect_status 2 examples nope
expect_status 0 examples --help

if [ "$failures" -ne 0 ]; then echo "cli-tests: $failures failure(s)"; exit 1; fi
echo "cli-tests: all passed"
