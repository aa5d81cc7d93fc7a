#!/usr/bin/env bash
# Checks the `multiloop` command line: exit status 2 and a message for bad usage, --help that
# names every scenario and option, a short run that exits 0, and --json output that parses; the
# demo's count; the examples command's messages, help, and output (one example, then all).
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
for word in fan-in ring timers tasks shutdown faults sockets all --loops --producers --duration --count --seed --pin --spin-us --json --quiet; do
    grep -q -- "$word" /tmp/multiloop-cli.out || { echo "FAIL: stress --help does not mention $word"; failures=$((failures + 1)); }
done
expect_status 0 stress fan-in --count 20000 --loops 2 --producers 2 --quiet
grep -q "every invariant held" /tmp/multiloop-cli.out || { echo "FAIL: no summary"; failures=$((failures + 1)); }
expect_status 0 stress fan-in shutdown --count 2000 --loops 2 --producers 2 --quiet --json
python3 -c 'import json,sys; r=json.load(open("/tmp/multiloop-cli.out")); assert [s["scenario"] for s in r["scenarios"]] == ["fan-in", "shutdown"], r; assert all(s["violationCount"] == 0 for s in r["scenarios"])' \
    || { echo "FAIL: --json output"; failures=$((failures + 1)); }
# `multiloop demo`: two threads hand 1,000,000 callbacks to one loop; it counts them only once
# every producer's last callback ran (it once read the count before the loop had taken a backlog
# of more than 1024 items, and reported about 600,000).
expect_status 0 demo 2
grep -q "^ran 1000000, violations (lost, duplicated or out of order) 0$" /tmp/multiloop-cli.out \
    || { echo "FAIL: demo did not count every callback"; cat /tmp/multiloop-cli.out; failures=$((failures + 1)); }
# `multiloop examples` (Sources/multiloop/ExamplesCommand.swift; the examples' own output and
# timing are checked in Tests/MultiLoopExamplesTests, with their delays shortened).
examples="send yield-from hello-world say-after create-task gather lock"
expect_output() {  # what the last command printed, HH:MM:SS times masked, against stdin
    local expected
    expected=$(cat)
    if ! diff <(sed -E 's/[0-9]{2}:[0-9]{2}:[0-9]{2}/HH:MM:SS/g' /tmp/multiloop-cli.out) <(printf '%s\n' "$expected") \
            >/tmp/multiloop-cli.diff; then
        echo "FAIL: multiloop $1 printed otherwise (< printed, > expected):"; cat /tmp/multiloop-cli.diff; failures=$((failures + 1))
    fi
}
expect_status 2 examples nope
grep -q "unknown example 'nope'" /tmp/multiloop-cli.err || { echo "FAIL: no message for an unknown example"; failures=$((failures + 1)); }
for name in $examples; do
    grep -q -- "$name" /tmp/multiloop-cli.err || { echo "FAIL: the unknown-example message does not name $name"; failures=$((failures + 1)); }
done
[ -s /tmp/multiloop-cli.out ] && { echo "FAIL: examples nope ran something"; failures=$((failures + 1)); }
expect_status 2 examples send gather
grep -q "Usage: multiloop examples" /tmp/multiloop-cli.err || { echo "FAIL: no usage for two example names"; failures=$((failures + 1)); }
[ -s /tmp/multiloop-cli.out ] && { echo "FAIL: examples send gather ran something"; failures=$((failures + 1)); }
expect_status 0 examples --help
for word in $examples "Exit status"; do
    grep -q -- "$word" /tmp/multiloop-cli.out || { echo "FAIL: examples --help does not mention $word"; failures=$((failures + 1)); }
done
# One example: its lines alone, no heading.
expect_status 0 examples send
expect_output "examples send" <<'EOF'
我拿到了5!
我拿到了4!
我拿到了3!
我只要3,4,5就行啦
EOF
# Every example, in tutorial order, each headed by its name (the tutorial's delays: about 9 s).
expect_status 0 examples
expect_output examples <<'EOF'
=== send ===
我拿到了5!
我拿到了4!
我拿到了3!
我只要3,4,5就行啦

=== yield-from ===
Compute 1 + 2 ...
Compute 3 + 4 ...
1 + 2 = 3
3 + 4 = 7

=== hello-world ===
Hello ...
... World!

=== say-after ===
started at HH:MM:SS
hello
world
finished at HH:MM:SS

=== create-task ===
started at HH:MM:SS
hello
world
finished at HH:MM:SS

=== gather ===
[1, 2]

=== lock ===
A: 0 -> 1
B: 1 -> 2
C: 2 -> 3
counter = 3
EOF

if [ "$failures" -ne 0 ]; then echo "cli-tests: $failures failure(s)"; exit 1; fi
echo "cli-tests: all passed"
