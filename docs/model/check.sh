#!/usr/bin/env bash
# Model-check the MultiLoop inbox, lane and handle-recycler protocols with Spin.
#
#   bash docs/model/check.sh          (from any directory)
#
# - inbox.pml must verify with 0 errors, exhaustively (no bitstate, no partial-order
#   reduction, no depth truncation), with spurious epoll wake-ups on and off.
# - inbox-broken.pml (separate sleep flag: the classic lost wake-up) must FAIL, in
#   every configuration listed below; the shortest counterexample is reported.
# - recycler.pml must verify with 0 errors, exhaustively, with 1 (a lane, as in the code), 2
#   and 3 producers; its
#   broken variants (-DBROKEN_POP_ONE: the classic ABA; -DBROKEN_TWO_GIVERS: the bound)
#   must FAIL, and so must two sanity checks that show the model reaches what it
#   claims to survive (-DBOUND=1: the bin does reach CAP; -DASSERT_NO_ABA: a take's
#   CAS does succeed on a head that was taken and given back since it was loaded).
# - lanes.pml (per-producer lanes; the Treiber list carries only lane registrations; a
#   producer may publish two items with one CAS, as executeBatch does, or not: -DBATCH=0)
#   must verify with 0 errors, exhaustively, 3 producers x 2 items, with spurious
#   wake-ups on and off; its broken variants (-DBROKEN_NO_RESCAN and
#   -DBROKEN_CHECK_BEFORE_PUBLISH: lost wake-ups; -DBROKEN_CLOSE_NO_LANE_CAS: an item
#   accepted after close and lost) must FAIL (the first also with the final check
#   alone, the second also with spurious wake-ups on), and so must the sanity check
#   -DASSERT_NEVER_LANE_WAKE (a lane producer, not a registration, does end a sleep
#   the loop is blocked in).
# Exit status 0 only if all of that holds. Needs spin and gcc.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for tool in spin gcc; do
    command -v "$tool" >/dev/null || { echo "check.sh: $tool not found" >&2; exit 2; }
done

DEPTH=100000        # pan -m: far above the deepest path (~1000); truncation = failure
HASH=23             # pan -w: 2^23 hash slots for ~2.5 million states
CFLAGS=(-O2 -DSAFETY -DNOREDUCE -DMEMLIM=1024)
# -DSAFETY: safety properties only (assertions + invalid end states); liveness is
#           covered by the end-state / quiescence checks (see README.md).
# -DNOREDUCE: no partial-order reduction (it saves nothing here, and it keeps
#           `timeout` semantics beyond doubt).

failed=0

# run_pan NAME MODEL EXPECT [spin -D flags...]
#   EXPECT = pass: 0 errors required
#            fail: at least one error required; reports the first counterexample found
#            shortest: as fail, and searches for the shortest counterexample
#                      (pan -DREACH -i; pan then counts every shorter one it finds)
run_pan() {
    local name="$1" model="$2" expect="$3"; shift 3
    local shortest=0
    [ "$expect" = shortest ] && { shortest=1; expect=fail; }
    local dir="$work/$name"
    mkdir -p "$dir"
    cp "$here/$model" "$dir/"
    (
        cd "$dir"
        spin "$@" -a "$model" >spin.out 2>&1 || { cat spin.out >&2; exit 3; }
        local cflags=("${CFLAGS[@]}")
        [ "$shortest" = 1 ] && cflags+=(-DREACH)
        gcc "${cflags[@]}" -o pan pan.c 2>gcc.out || { cat gcc.out >&2; exit 3; }
        local panflags=(-m"$DEPTH" -w"$HASH" -n)
        [ "$shortest" = 1 ] && panflags+=(-i)
        local t0 t1
        t0=$(date +%s.%N)
        ./pan "${panflags[@]}" >pan.out 2>&1 || true
        t1=$(date +%s.%N)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }' >time.out
        if [ "$expect" = fail ] && [ -f "$model.trail" ]; then
            spin "$@" -t "$model" 2>&1 | grep -o 'trail ends after [0-9]* steps' | tail -1 >trail.out || true
        fi
    ) || { echo "FAIL  $name: spin/gcc failed"; failed=1; return; }

    local out="$dir/pan.out" errors states secs trail=""
    errors=$(grep -o 'errors: [0-9]*' "$out" | tail -1 | awk '{print $2}')
    states=$(grep -o '^ *[0-9]* states, stored' "$out" | tail -1 | awk '{print $1}')
    secs=$(cat "$dir/time.out")
    if [ -s "$dir/trail.out" ]; then
        if [ "$shortest" = 1 ]; then trail=", shortest counterexample: "; else trail=", counterexample: "; fi
        trail="$trail$(sed 's/trail ends after //' "$dir/trail.out")"
    fi

    local ok=1 why=""
    if [ -z "$errors" ] || [ -z "$states" ]; then
        ok=0; why=" (pan did not finish: $(tail -3 "$out" | tr '\n' ' '))"
    elif grep -q 'max search depth too small' "$out"; then
        ok=0; why=" (search truncated: max search depth too small)"
    elif grep -qiE 'out of memory|MEMLIM' "$out"; then
        ok=0; why=" (ran out of memory)"
    elif [ "$expect" = pass ] && [ "$errors" -ne 0 ]; then
        ok=0; why=" ($(grep -m1 -E 'assertion violated|invalid end state|error' "$out"))"
        # keep the counterexample (ignored by git: *.trail) and say how to replay it
        if cp "$dir/$model.trail" "$here/$name.trail" 2>/dev/null; then
            why="$why; replay: cd $here && spin $* -t -p -k $name.trail $model"
        fi
    elif [ "$expect" = fail ] && [ "$errors" -eq 0 ]; then
        ok=0; why=" (the broken protocol was NOT caught)"
    fi
    if [ "$expect" = fail ] && [ "$errors" -gt 0 ]; then
        why=" -- $(grep -m1 -oE 'assertion violated.*\(at|invalid end state' "$out" | sed -e 's/ (at$//' -e 's/  */ /g')"
    fi

    if [ "$ok" = 1 ]; then
        printf 'ok    %-30s states stored: %9s  errors: %s  %6ss%s%s\n' "$name" "$states" "$errors" "$secs" "$trail" "$why"
    else
        printf 'FAIL  %-30s states stored: %9s  errors: %s  %6ss%s%s\n' "$name" "${states:-?}" "${errors:-?}" "$secs" "$trail" "$why"
        failed=1
    fi
}

run_pan inbox-spurious          inbox.pml        pass -DSPURIOUS=1
run_pan inbox-no-spurious       inbox.pml        pass -DSPURIOUS=0
run_pan broken-no-spurious      inbox-broken.pml shortest -DSPURIOUS=0
run_pan broken-spurious         inbox-broken.pml shortest -DSPURIOUS=1
run_pan broken-final-check-only inbox-broken.pml fail -DSPURIOUS=0 -DNO_INVARIANT

# The recycler's pan.c compiles in 1 s with -O1 instead of 2.6 s with -O2, and its
# searches run about as fast: -O1 for these runs keeps the script short.
CFLAGS=(-O1 -DSAFETY -DNOREDUCE -DMEMLIM=1024)
run_pan recycler                recycler.pml     pass                          # 2 producers x 3, loop x 1
run_pan recycler-3-producers    recycler.pml     pass -DNP=3 -DK=2 -DLK=0     # 3 producers x 2
run_pan recycler-one-lane       recycler.pml     pass -DNP=1 -DK=4 -DLK=0     # the code's case: a lane's one taker
run_pan recycler-bound-reached  recycler.pml     shortest -DBOUND=1           # bin size CAP=2 is reached
run_pan recycler-aba-reached    recycler.pml     shortest -DASSERT_NO_ABA     # ABA on head happens
run_pan recycler-broken-pop-one recycler.pml     shortest -DBROKEN_POP_ONE
run_pan recycler-broken-2-givers recycler.pml    fail -DBROKEN_TWO_GIVERS
run_pan recycler-2-givers-stack recycler.pml     pass -DBROKEN_TWO_GIVERS -DNO_BOUND_CHECK -DK=2 -DLK=0

# lanes.pml: -O2 for the two exhaustive runs (its searches are the longest, and run
# ~30% faster than with -O1); the failing runs search fewer than 100,000 states, so -O0
# (pan.c compiles in 0.7 s instead of 2.2 s) keeps the script short.
CFLAGS=(-O2 -DSAFETY -DNOREDUCE -DMEMLIM=1024)
run_pan lanes-spurious          lanes.pml        pass -DSPURIOUS=1
run_pan lanes-no-spurious       lanes.pml        pass -DSPURIOUS=0
run_pan lanes-no-batch          lanes.pml        pass -DSPURIOUS=1 -DBATCH=0   # one item per CAS only
CFLAGS=(-O0 -DSAFETY -DNOREDUCE -DMEMLIM=1024)
run_pan lanes-lane-wake-reached lanes.pml        shortest -DSPURIOUS=0 -DASSERT_NEVER_LANE_WAKE
run_pan lanes-broken-no-rescan  lanes.pml        shortest -DSPURIOUS=0 -DBROKEN_NO_RESCAN
run_pan lanes-broken-no-rescan-final lanes.pml   fail -DSPURIOUS=0 -DBROKEN_NO_RESCAN -DNO_INVARIANT
run_pan lanes-broken-check-first lanes.pml       shortest -DSPURIOUS=0 -DBROKEN_CHECK_BEFORE_PUBLISH
run_pan lanes-check-first-spurious lanes.pml  fail -DSPURIOUS=1 -DBROKEN_CHECK_BEFORE_PUBLISH
run_pan lanes-broken-close-no-cas lanes.pml      shortest -DSPURIOUS=0 -DBROKEN_CLOSE_NO_LANE_CAS

if [ "$failed" = 0 ]; then
    echo "PASS: inbox.pml verified (spurious wake-ups on and off); inbox-broken.pml caught"
    echo "PASS: recycler.pml verified (1, 2 and 3 takers); its broken variants caught"
    echo "PASS: lanes.pml verified (3 producers x 2, batches of 2 and single items, spurious wake-ups on and off); its broken variants caught"
else
    echo "FAILED"
fi
exit "$failed"
