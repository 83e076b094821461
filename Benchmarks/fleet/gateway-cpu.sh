#!/usr/bin/env bash
# The gateway's throughput and the CPU each process spends per event API request: 2 nodes and
# 1 gateway (release build) on the Redis at REDIS_URL, `wrk -t2 -c64` on ?event=getConnectionCount
# RUNS times, and after each run requests/s, p50/p99 and µs of CPU per request of the gateway,
# each node and (if REDIS_PID is set) Redis, read from /proc/PID/stat before and after.
#
#   scripts/with-redis.sh Benchmarks/fleet/gateway-cpu.sh
#
# WSCENTER_BIN=path measures that binary instead of building one; DURATION (default 8s), RUNS (3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${REDIS_URL:?set REDIS_URL (or run through scripts/with-redis.sh)}"
SWIFT=${SWIFT:-swift}
DURATION=${DURATION:-8s}
RUNS=${RUNS:-3}
command -v wrk >/dev/null || { echo "gateway-cpu: installing wrk" >&2; ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo )} apt-get install -y -q wrk >/dev/null; }
if [[ -n "${WSCENTER_BIN:-}" ]]; then
    bin=$WSCENTER_BIN
else
    "$SWIFT" build -c release --product wscenter >&2
    bin="$("$SWIFT" build -c release --show-bin-path)/wscenter"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
n1=$(free_port); n2=$(free_port); g=$(free_port)
prefix="gwcpu$RANDOM:"
common=(--redis-url "$REDIS_URL" --redis-prefix "$prefix" --host 127.0.0.1 --log-level warning --app-secret bench-secret-7d3a9c1e5b)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
"$bin" node --node-id cpu-n1 --port "$n1" "${common[@]}" & pids+=($!)
"$bin" node --node-id cpu-n2 --port "$n2" "${common[@]}" & pids+=($!)
"$bin" gateway --http-port "$g" "${common[@]}" & pids+=($!)
url="http://127.0.0.1:$g/?event=getConnectionCount"
for _ in $(seq 100); do curl -fs "$url" | grep -q cpu-n2 && break; sleep 0.1; done
declare -A watched=([gateway]=${pids[2]} [node1]=${pids[0]} [node2]=${pids[1]})
[[ -n "${REDIS_PID:-}" ]] && watched[redis]=$REDIS_PID
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "gateway-cpu: $(nproc) cores, wrk -t2 -c64 -d$DURATION, $RUNS runs"
for run in $(seq "$RUNS"); do
    declare -A before=()
    for name in "${!watched[@]}"; do before[$name]=$(ticks "${watched[$name]}"); done
    out=$(wrk -t2 -c64 -d"$DURATION" --latency "$url")
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    line="run $run: $(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s, p50 $(echo "$out" | awk '$1 == "50%" {print $2}'), p99 $(echo "$out" | awk '$1 == "99%" {print $2}')"
    for name in gateway node1 node2 redis; do
        [[ -n "${watched[$name]:-}" ]] || continue
        used=$(( $(ticks "${watched[$name]}") - before[$name] ))
        line+=", $name $(( used * 1000000 / hz / requests )) µs/request"
    done
    echo "$line"
done
