#!/usr/bin/env bash
# Keeps `make scaling` working without measuring anything: builds the sweep (debug), runs every
# workload against every peer at a hundredth of the work and checks every row is there, checks
# bad usage exits 2, runs the asyncio peer briefly, and renders the report (tables, plots) from
# both into a scratch copy of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

if ! (cd Benchmarks && $SWIFT build --product multiloop-scaling -Xswiftc -warnings-as-errors > "$tmp/build.log" 2>&1); then
    grep -E "error" "$tmp/build.log" | head -20; echo "FAIL: the sweep does not build"; exit 1
fi
bin="$(cd Benchmarks && $SWIFT build --show-bin-path)/multiloop-scaling"

"$bin" --scale 0.01 --repeats 1 --threads 1,2 --csv "$tmp/swift.csv" --quiet || fail "the sweep exited $?"
# 9 workloads; ring has no 1-thread point; each peer runs the workloads it has.
expected="fan-in:6 fan-out:5 all-to-all:6 ring:7 futures:5 tasks:4 gather:4 switch:4 timers:4"
for pair in $expected; do
    workload=${pair%%:*}; peers=${pair##*:}
    rows=$(grep -c "^$workload," "$tmp/swift.csv" || true)
    [ "$workload" = ring ] && want=$peers || want=$((peers * 2))
    [ "$rows" = "$want" ] || fail "$workload: $rows rows, expected $want"
done
for args in "--repeats 0" "--threads 0" "--workloads nonsense" "--peers nonsense" "--scale -1" "--bogus"; do
    set +e; "$bin" $args >/dev/null 2>"$tmp/err"; status=$?; set -e
    [ "$status" = 2 ] || fail "multiloop-scaling $args exited $status, expected 2"
done
"$bin" --help | grep -q "eventfd-floor" || fail "--help does not describe the peers"
"$bin" --help | grep -q "the Swift runtime's floor" || fail "--help does not describe the floor peer"

python3 Benchmarks/python/asyncio_scaling.py --impl asyncio --scale 0.01 --repeats 1 --threads 1,2 \
    --csv "$tmp/python.csv" --quiet || fail "asyncio_scaling.py exited $?"
for workload in fan-in tasks gather switch; do
    [ "$(grep -c "^$workload,asyncio," "$tmp/python.csv")" = 2 ] || fail "no asyncio $workload rows"
done

printf '# Benchmarks\n\n<!-- smoke:begin -->\n<!-- smoke:end -->\n' > "$tmp/benchmarks.md"
PY=$(Benchmarks/python/ensure-python.sh)
"$PY" Benchmarks/python/report.py "$tmp/swift.csv" "$tmp/python.csv" --out-dir "$tmp/plots" \
    --markdown "$tmp/benchmarks.md" --section smoke --title "CI smoke run" >/dev/null || fail "report.py exited $?"
for plot in fan-in fan-out all-to-all futures tasks gather switch timers ring-latency ring-throughput; do
    [ -s "$tmp/plots/$plot.png" ] || fail "no $plot.png"
done
grep -q "### Targets" "$tmp/benchmarks.md" || fail "the report wrote no targets table"

if [ "$failures" -gt 0 ]; then echo "scaling-smoke: $failures failure(s)"; exit 1; fi
echo "scaling-smoke: all passed"
