#!/usr/bin/env bash
# WebSocket conformance: the Autobahn TestSuite cases, run by the `kosoku` fuzzing client
# (PyPI), against `wscenter serve` with ECHO_PATH set.
#
#   scripts/conformance.sh [fast|all] [KOSOKU ARGS...]
#
# fast (the default): a sample of the framing, ping, reserved bit and opcode, fragmentation,
# UTF-8, close and limits groups that runs in seconds (`make test`); all: every case
# (`make conformance`). The binary is $WSCENTER_BIN, or else
# `$(swift build --show-bin-path)/wscenter` (built when missing). kosoku is installed with pip
# when missing. The server runs on the embedded broker on free ports; the script waits for the
# port it logs. It prints a table of case groups with the count of each result and exits 1 if
# any case is neither OK nor NON-STRICT, nor INFORMATIONAL or UNIMPLEMENTED where Autobahn
# defines it so (INFORMATIONAL: behaviour the RFC leaves open; UNIMPLEMENTED: the compression
# cases, 12.* and 13.*, when permessage-deflate is not offered, as here). Reports stay in
# $CONFORMANCE_REPORTS when set (kosoku's index.json and an HTML page per case).
#
# The server runs with MAX_MESSAGE_SIZE=16 MiB (the largest Autobahn message is 16 MiB) and
# heartbeats every hour (an unsolicited ping in the middle of a case is an event the case
# does not expect); $CONFORMANCE_ENV adds or overrides settings, e.g.
# CONFORMANCE_ENV="MAX_MESSAGE_SIZE=65536".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mode=${1:-fast}
[[ $# -gt 0 ]] && shift
python=${PYTHON:-python3}
echo_path=/conformance/echo

case "$mode" in
    fast)
        # One or more cases of each group the product relies on: frames of every size class,
        # pings, reserved bits and opcodes, fragmentation (with control frames in between),
        # UTF-8 (valid, invalid, split over fragments), close codes and reasons, and a 1 MiB
        # message in 64 KiB fragments.
        cases=(1.1.1 1.1.6 1.1.8 1.2.1 1.2.8 2.1 2.3 2.5 2.10 3.2 3.7 4.1.1 4.2.5
            5.1 5.3 5.6 5.9 5.15 5.19 6.1.1 6.2.3 6.3.1 6.4.1 6.4.4 6.6.11 6.12.1 6.20.1 6.23.7
            7.1.6 7.3.2 7.3.6 7.5.1 7.7.1 7.7.13 7.9.3 7.13.1 9.3.4 10.1.1)
        ;;
    all) cases=() ;;
    *) echo "usage: scripts/conformance.sh [fast|all] [KOSOKU ARGS...]" >&2; exit 2 ;;
esac

# 1. kosoku, only when missing.
kosoku_bin() {
    command -v kosoku 2>/dev/null && return
    local scripts
    scripts=$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    [[ -x "$scripts/kosoku" ]] && echo "$scripts/kosoku"
}
if ! "$python" -c 'import kosoku' >/dev/null 2>&1 || [[ -z "$(kosoku_bin)" ]]; then
    echo "conformance: installing kosoku with pip" >&2
    "$python" -m pip install -q --disable-pip-version-check kosoku >&2
fi
kosoku=$(kosoku_bin)
if [[ -z "$kosoku" ]]; then
    echo "conformance: kosoku is installed but its command is not on PATH" >&2
    exit 1
fi
kosoku_version=$("$python" -c 'from importlib.metadata import version; print(version("kosoku"))')

# 2. The binary.
if [[ -z "${WSCENTER_BIN:-}" ]]; then
    WSCENTER_BIN="$(swift build --show-bin-path)/wscenter"
    if [[ ! -x "$WSCENTER_BIN" ]]; then
        echo "conformance: building wscenter" >&2
        swift build --product wscenter >&2
    fi
fi
if [[ ! -x "$WSCENTER_BIN" ]]; then
    echo "conformance: no executable at $WSCENTER_BIN" >&2
    exit 1
fi

# 3. The server, on free ports; its log tells the port.
work=$(mktemp -d "${TMPDIR:-/tmp}/wscenter-conformance.XXXXXX")
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -z "${CONFORMANCE_REPORTS:-}" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
reports=${CONFORMANCE_REPORTS:-$work/reports}
rm -rf "$reports"
log=$work/server.log
settings=(ECHO_PATH="$echo_path" MAX_MESSAGE_SIZE=16777216 HEARTBEAT_INTERVAL=3600 HEARTBEAT_TIMEOUT=7200)
read -r -a extra <<<"${CONFORMANCE_ENV:-}"
: >"$log"
env -u REDIS_URL -u PORT -u HTTP_PORT -u TOKEN "${settings[@]}" "${extra[@]}" \
    "$WSCENTER_BIN" serve --host 127.0.0.1 --port 0 --http-port 0 >"$log" 2>&1 &
server_pid=$!
port=
deadline=$((SECONDS + 60))
while [[ -z "$port" ]]; do
    port=$(sed -n 's/.*msg="node listening".* port=\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
    [[ -n "$port" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS > deadline)); then
        echo "conformance: the server did not log its port:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "conformance: $mode cases, kosoku $kosoku_version, against $WSCENTER_BIN on ws://127.0.0.1:$port$echo_path" >&2

# 4. The cases. kosoku exits 1 when any case is not OK, NON-STRICT or INFORMATIONAL (also
# for UNIMPLEMENTED): the verdict below reads its report instead.
includes=()
for c in "${cases[@]}"; do includes+=(-i "$c"); done
started=$SECONDS
"$kosoku" -m fuzzingclient "${includes[@]}" "$@" -o "$reports" "127.0.0.1:$port$echo_path" >"$work/kosoku.log" 2>&1 || true
elapsed=$((SECONDS - started))
if [[ ! -f "$reports/index.json" ]]; then
    echo "conformance: kosoku wrote no report:" >&2
    cat "$work/kosoku.log" >&2
    exit 1
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "conformance: the server died during the run:" >&2
    tail -n 50 "$log" >&2
    exit 1
fi
echo "conformance: kosoku ran for ${elapsed} s" >&2
"$python" "$root/scripts/conformance_report.py" "$reports/index.json"
