#!/usr/bin/env bash
# Prints (on stdout, alone) the path of a Python interpreter that can import matplotlib, and with
# `--with uvloop` also uvloop. Installs what is missing; prints nothing else when all is there.
#
#   Benchmarks/python/ensure-python.sh                 # -> .../.build-python/venv/bin/python
#   Benchmarks/python/ensure-python.sh --with uvloop   # the same, with uvloop installed too
#   PY=$(Benchmarks/python/ensure-python.sh) && "$PY" Benchmarks/python/report.py ...
#
# Preferred: a virtual environment at <repo>/.build-python/venv (ignored by .gitignore's
# `.build-*`), created with `python3 -m venv` if missing, then `pip install matplotlib`; uvloop
# comes from Benchmarks/python/requirements.txt when that file exists (reinstalled when the file
# changes), otherwise `pip install uvloop` unpinned.
# Fallback, when the venv cannot be created or pip fails: Debian's packages through apt-get
# (python3-matplotlib, python3-uvloop) and /usr/bin/python3.
# Environment: PYTHON = the interpreter the venv is made from (default: python3 on PATH);
# MULTILOOP_VENV = another venv path; MULTILOOP_PY_REQUIREMENTS = another requirements file.
# Progress and errors go to stderr. Exit status: 0 done, 1 no interpreter with the modules could
# be had, 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${MULTILOOP_VENV:-$ROOT/.build-python/venv}
REQ=${MULTILOOP_PY_REQUIREMENTS:-$ROOT/Benchmarks/python/requirements.txt}
BASE_PY=${PYTHON:-python3}

want_uvloop=0
while [ $# -gt 0 ]; do
    case "$1" in
        --with)
            [ $# -ge 2 ] || { echo "ensure-python.sh: --with needs an argument (uvloop)" >&2; exit 2; }
            case "$2" in
                uvloop) want_uvloop=1 ;;
                *) echo "ensure-python.sh: unknown extra '$2' (only uvloop)" >&2; exit 2 ;;
            esac
            shift 2 ;;
        --with=uvloop) want_uvloop=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "ensure-python.sh: unknown argument '$1' (usage: ensure-python.sh [--with uvloop])" >&2; exit 2 ;;
    esac
done

say() { echo "ensure-python.sh: $*" >&2; }

# has PY MODULE... : true when PY runs and imports every MODULE.
has() {
    local py=$1; shift
    local IFS=,
    "$py" -c "import $*" >/dev/null 2>&1
}

modules=(matplotlib)
[ $want_uvloop = 1 ] && modules+=(uvloop)

# uvloop from the requirements file: a copy of the installed file sits in the venv as a stamp,
# so a changed pin is installed again, and an unchanged one costs nothing.
STAMP=$VENV/.requirements.installed
req_current() {
    [ -f "$REQ" ] || return 0
    [ -f "$STAMP" ] && cmp -s "$REQ" "$STAMP"
}

venv_ready() {
    [ -x "$VENV/bin/python" ] || return 1
    has "$VENV/bin/python" "${modules[@]}" || return 1
    if [ $want_uvloop = 1 ]; then req_current || return 1; fi
    return 0
}

pip_install() {   # pip_install ARGS... : quiet, output to stderr only
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" >&2
}

try_venv() {
    if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        say "removing broken venv $VENV"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        command -v "$BASE_PY" >/dev/null 2>&1 || { say "no $BASE_PY on PATH"; return 1; }
        say "creating venv $VENV"
        mkdir -p "$(dirname "$VENV")"
        "$BASE_PY" -m venv "$VENV" >&2 || { say "python3 -m venv failed"; rm -rf "$VENV"; return 1; }
    fi
    if ! has "$VENV/bin/python" matplotlib; then
        say "pip install matplotlib"
        pip_install matplotlib || { say "pip install matplotlib failed"; return 1; }
    fi
    if [ $want_uvloop = 1 ]; then
        if [ -f "$REQ" ]; then
            if ! req_current || ! has "$VENV/bin/python" uvloop; then
                say "pip install -r ${REQ#"$ROOT"/}"
                pip_install -r "$REQ" || { say "pip install -r $REQ failed"; return 1; }
                cp "$REQ" "$STAMP"
            fi
        elif ! has "$VENV/bin/python" uvloop; then
            say "pip install uvloop (no ${REQ#"$ROOT"/} yet: unpinned)"
            pip_install uvloop || { say "pip install uvloop failed"; return 1; }
        fi
    fi
    venv_ready
}

try_apt() {
    local py=/usr/bin/python3 pkgs=(python3-matplotlib)
    [ $want_uvloop = 1 ] && pkgs+=(python3-uvloop)
    if [ -x "$py" ] && has "$py" "${modules[@]}"; then echo "$py"; return 0; fi
    command -v apt-get >/dev/null 2>&1 || { say "no apt-get for the fallback"; return 1; }
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    say "falling back to Debian: apt-get install ${pkgs[*]}"
    local log
    log=$(mktemp)
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 "${pkgs[@]}"; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -f "$log"
        say "apt-get install failed"
        return 1
    fi
    rm -f "$log"
    has "$py" "${modules[@]}" || return 1
    echo "$py"
}

if venv_ready; then echo "$VENV/bin/python"; exit 0; fi
if try_venv; then echo "$VENV/bin/python"; exit 0; fi
say "the venv at $VENV could not be set up"
if try_apt; then exit 0; fi
say "no Python with ${modules[*]} could be had (tried $VENV and Debian's packages)"
exit 1
