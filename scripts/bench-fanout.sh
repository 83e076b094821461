#!/usr/bin/env bash
# The fan-out comparison: wscenter next to a Node.js `ws` server, measured by the neutral lab
# in ../shared/perf (its README.md says what each figure means), then wrk on a gateway's
# `?event=getConnectionCount`. Prints markdown tables and where the raw JSON lines are.
#
#   scripts/bench-fanout.sh                       (or: make bench-fanout)
#   CLIENTS=1000 IDLE_CLIENTS=2000 scripts/bench-fanout.sh   (a shorter run)
#
# Steps, in order (every server process is fresh for each run and stopped by PID):
#   1. bench.py run:  fan-out (broadcast, window 1 and 8) and targeted sends, CLIENTS clients,
#                     servers pinned to CPU 0 and the generator to CPU 1, for each of PEERS;
#   2. bench.py idle: server memory per idle connection at IDLE_CLIENTS, for each of IDLE_PEERS;
#   3. wrk -t2 -c64 -d10s on ?event=getConnectionCount&token=... against a fleet started here
#      (its own redis-server on a free port, 2 `wscenter node`, 1 `wscenter gateway`; not pinned);
#   4. bench.py table, the wrk figure, and a list of runs that reported an error or lost messages.
#
# Environment:
#   WSCENTER_BIN   the wscenter binary to measure; unset: `$SWIFT build -c release --product
#                  wscenter` (SWIFT defaults to swift) and its .build/release/wscenter
#   PERF_LAB       the lab's directory (default: ../shared/perf next to the repository, or
#                  next to the main worktree when this is a git worktree)
#   CLIENTS        clients of the fan-out runs (default 5000)
#   IDLE_CLIENTS   clients of the idle-memory runs (default 10000)
#   PEERS          peers of the fan-out runs (default wscenter,wscenter-fleet,node-ws,node-ws-fleet)
#   IDLE_PEERS     peers of the idle-memory runs (default wscenter,node-ws)
#   OUT            the JSON-lines file results are appended to (default /tmp/bench-fanout-<date>.jsonl)
#   LOGDIR         server logs (default: OUT without .jsonl, plus -logs)
#   WRK_DURATION   wrk's -d (default 10s)
#
# Needs python3, node, redis-server, taskset and wrk; the lab's setup.sh (Debian node-ws,
# node-redis, redis-server; PyPI picows, uvloop) is run when its Python modules are missing,
# and wrk is installed with apt when missing. bench.py uses the fixed ports 6390, 9001, 9002
# and 9031-9033 of 127.0.0.1: nothing else may listen there during the run (checked at the start).
set -euo pipefail
export LC_ALL=C

say() { echo "bench-fanout: $*" >&2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# --------------------------------------------------------------------------- settings

if [[ -z "${PERF_LAB:-}" ]]; then
    PERF_LAB=$root/../shared/perf
    if [[ ! -f "$PERF_LAB/bench.py" ]]; then
        # a git worktree elsewhere: the lab sits next to the main worktree
        common=$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
        [[ -z "$common" ]] || PERF_LAB=$(dirname "$common")/../shared/perf
    fi
fi
[[ -f "$PERF_LAB/bench.py" ]] || { say "no bench.py in PERF_LAB=$PERF_LAB (set PERF_LAB)"; exit 2; }
PERF_LAB=$(cd "$PERF_LAB" && pwd)

CLIENTS=${CLIENTS:-5000}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
PEERS=${PEERS:-wscenter,wscenter-fleet,node-ws,node-ws-fleet}
IDLE_PEERS=${IDLE_PEERS:-wscenter,node-ws}
OUT=${OUT:-/tmp/bench-fanout-$(date +%Y%m%d-%H%M%S).jsonl}
LOGDIR=${LOGDIR:-${OUT%.jsonl}-logs}
WRK_DURATION=${WRK_DURATION:-10s}
mkdir -p "$LOGDIR" "$(dirname "$OUT")"

# --------------------------------------------------------------------------- tools and binary

for tool in python3 node redis-server redis-cli taskset curl; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool not found (run $PERF_LAB/setup.sh)"; exit 2; }
done
if ! python3 -c "import picows, uvloop" 2>/dev/null; then
    say "the lab's Python modules are missing: running $PERF_LAB/setup.sh"
    "$PERF_LAB/setup.sh" >&2
fi
if ! command -v wrk >/dev/null 2>&1; then
    say "installing wrk"
    ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo )} apt-get install -y -q wrk >/dev/null
fi

SWIFT=${SWIFT:-swift}
if [[ -n "${WSCENTER_BIN:-}" ]]; then
    bin=$WSCENTER_BIN
else
    say "building the release binary (swift build -c release --product wscenter)"
    "$SWIFT" build -c release --product wscenter >&2
    bin="$("$SWIFT" build -c release --show-bin-path)/wscenter"
fi
[[ -x "$bin" ]] || { say "no executable at $bin"; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
say "binary $bin; results appended to $OUT; logs in $LOGDIR"
# Other work on the machine skews every figure: the load average before and after says whether there was any.
load0="$(cut -d' ' -f1-3 /proc/loadavg) at $(date +%H:%M:%S)"
say "load average $load0 ($(nproc) cores)"

# --------------------------------------------------------------------------- 1, 2: the lab

# bench.py's ports are fixed, and it starts a peer even when its port stays taken: another lab
# run on this machine would be measured instead, or disturb this one. Refuse to start then.
busy=$(python3 -c '
import socket
busy = []
for p in (6390, 9001, 9002, 9031, 9032, 9033):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        busy.append(str(p))
    finally:
        s.close()
print(" ".join(busy))')
if [[ -n "$busy" ]]; then
    say "port(s) $busy of 127.0.0.1 in use (another lab run?); bench.py needs 6390, 9001, 9002, 9031-9033"
    exit 2
fi

# bench.py passes its environment on to the servers: a clean one, so that a REDIS_URL, TOKEN,
# CLIENT_TOKENS... of the caller's shell cannot change what is measured.
lab=(env -i "PATH=$PATH" "HOME=${HOME:-/tmp}" LC_ALL=C "WSCENTER_BIN=$bin" python3 "$PERF_LAB/bench.py")
"${lab[@]}" run "$OUT" --peers "$PEERS" --clients "$CLIENTS" --pin on --window 1,8 --logdir "$LOGDIR"
"${lab[@]}" idle "$OUT" --peers "$IDLE_PEERS" --clients "$IDLE_CLIENTS" --logdir "$LOGDIR"

# --------------------------------------------------------------------------- 3: wrk on a gateway

pids=()
running() {   # pid: alive and not a zombie (an exited child stays one until `wait`)
    local stat
    { read -r stat </proc/"$1"/stat; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}
stop_all() {   # SIGTERM every process started here (gateway, nodes, then Redis), by PID; SIGKILL after 10 s
    local i pid
    for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do
        pid=${pids[i]}
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
        ! running "$pid" || { say "pid $pid still running 10 s after SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r rport n1 n2 g < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]   # all bound at once: distinct
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')
token=bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
# A clean environment: only these settings apply. Not the published app-secret (refused).
fleet_env=(env -i "PATH=$PATH" "REDIS_URL=redis://127.0.0.1:$rport" "REDIS_PREFIX=benchfanout:"
           HOST=127.0.0.1 LOG_LEVEL=warning "TOKEN=$token" APP_SECRET=bench-secret-7d3a9c1e5b)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$LOGDIR/wrk-redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
"${fleet_env[@]}" NODE_ID=bench-n1 PORT="$n1" "$bin" node >"$LOGDIR/wrk-node1.log" 2>&1 & pids+=($!)
"${fleet_env[@]}" NODE_ID=bench-n2 PORT="$n2" "$bin" node >"$LOGDIR/wrk-node2.log" 2>&1 & pids+=($!)
"${fleet_env[@]}" HTTP_PORT="$g" "$bin" gateway >"$LOGDIR/wrk-gateway.log" 2>&1 & pids+=($!)

url="http://127.0.0.1:$g/?event=getConnectionCount&token=$token"
answer=
for _ in $(seq 200); do   # up to 20 s: until both nodes answer through the gateway
    answer=$(curl -fs "$url" 2>/dev/null || true)
    [[ "$answer" == *bench-n1* && "$answer" == *bench-n2* ]] && break
    sleep 0.1
done
if [[ "$answer" != *bench-n1* || "$answer" != *bench-n2* ]]; then
    say "the gateway never listed both nodes (last answer: ${answer:-none}); logs in $LOGDIR/wrk-*.log"
    exit 1
fi
echo "--- wrk -t2 -c64 -d$WRK_DURATION on getConnectionCount (2 nodes, 1 gateway, $(nproc) cores); answer: $answer"
wrk -t2 -c64 -d"$WRK_DURATION" --latency "$url" | tee "$LOGDIR/wrk.txt"
stop_all
rps=$(awk '/^Requests\/sec:/ {print $2}' "$LOGDIR/wrk.txt")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$LOGDIR/wrk.txt")
sockerr=$(grep -m1 '^  Socket errors:' "$LOGDIR/wrk.txt" | sed 's/^ *//' || true)
p50=$(awk '$1 == "50%" {print $2}' "$LOGDIR/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$LOGDIR/wrk.txt")
# One more JSON line, so that the file holds every figure (bench.py table skips it).
python3 - "$OUT" "$rps" "${non2xx:-0}" "$p50" "$p99" "$sockerr" <<'PY'
import json, sys
out, rps, non2xx, p50, p99, sockerr = sys.argv[1:]
rec = {"peer": "wscenter-fleet", "label": "wrk getConnectionCount -t2 -c64",
       "wrk": {"requests_per_s": float(rps) if rps else None, "non_2xx": int(non2xx),
               "latency_p50": p50, "latency_p99": p99, "socket_errors": sockerr or None}}
with open(out, "a") as f:
    f.write(json.dumps(rec, separators=(",", ":")) + "\n")
PY

# --------------------------------------------------------------------------- 4: tables

echo
python3 "$PERF_LAB/bench.py" table "$OUT"
echo
echo "| wrk on the gateway, getConnectionCount (2 nodes) | requests/s | p50 | p99 | non-2xx |"
echo "|---|---:|---:|---:|---:|"
echo "| -t2 -c64 -d$WRK_DURATION | ${rps:-–} | ${p50:-–} | ${p99:-–} | ${non2xx:-0} |"
[[ -z "$sockerr" ]] || echo "wrk: $sockerr"
echo
# Runs whose figures are incomplete: an error, lost messages, or clients that never got ready.
python3 - "$OUT" <<'PY'
import json, sys
bad = []
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r = json.loads(line)
    if "wrk" in r:
        continue
    why = []
    if r.get("error"):
        why.append(f"error: {str(r['error'])[:200]}")
    ready = (r.get("connect") or {}).get("ready")
    if ready is not None and r.get("clients") and ready < r["clients"]:
        why.append(f"ready {ready} of {r['clients']}")
    for phase in ("fanout", "send"):
        lost = (r.get(phase) or {}).get("lost")
        if lost:
            why.append(f"{phase} lost {lost}")
    if why:
        bad.append(f"- {r.get('label') or r.get('peer')}: " + "; ".join(why))
print("runs with problems:\n" + "\n".join(bad) if bad else "every run: no error, nothing lost, every client ready")
PY
echo "load average: $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) at $(date +%H:%M:%S) after ($(nproc) cores)"
echo "results (JSON lines): $OUT"
echo "logs: $LOGDIR"
[[ -z "$non2xx" || "$non2xx" == 0 ]] || { say "wrk got $non2xx non-2xx answers: requests/s is not a valid figure"; exit 1; }
