#!/usr/bin/env bash
# The fleet benchmarks of docs/performance.md, against the Redis at REDIS_URL:
# 2 nodes and 1 gateway (release build), then
#   1. wrk on ?event=getConnectionCount (requests/s and latency percentiles);
#   2. broadcast to 5,000 idle WebSocket connections (time until all received);
#   3. Pusher: REST events to 5,000 subscribers of one channel (latency and events/s).
# Steps 2 and 3 end with the same throughput run (50 messages back to back, the same Python
# client) and the servers' CPU per delivery, so that Pusher compares with the native broadcast.
#
#   scripts/with-redis.sh Benchmarks/fleet/run.sh      (or: make bench-fleet)
#
# Installs wrk (apt) and the PyPI package websockets if they are missing.
# WSCENTER_BIN=path runs that binary instead of building one (to compare two builds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${REDIS_URL:?set REDIS_URL (or run through scripts/with-redis.sh)}"
SWIFT=${SWIFT:-swift}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-5000}

command -v wrk >/dev/null || { echo "bench-fleet: installing wrk" >&2; ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo )} apt-get install -y -q wrk >/dev/null; }
python3 -c "import websockets" 2>/dev/null || python3 -m pip install -q websockets

if [[ -n "${WSCENTER_BIN:-}" ]]; then
    bin=$WSCENTER_BIN
else
    "$SWIFT" build -c release --product wscenter >&2
    bin="$("$SWIFT" build -c release --show-bin-path)/wscenter"
fi
prefix="bench$RANDOM:"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
n1=$(free_port); n2=$(free_port); g=$(free_port)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
# Not the published default secret (node and gateway refuse it); Benchmarks/fleet/pusher.py signs with this one.
common=(--redis-url "$REDIS_URL" --redis-prefix "$prefix" --host 127.0.0.1 --log-level warning --app-secret bench-secret-7d3a9c1e5b)
"$bin" node --node-id bench-n1 --port "$n1" "${common[@]}" & pids+=($!)
"$bin" node --node-id bench-n2 --port "$n2" "${common[@]}" & pids+=($!)
"$bin" gateway --http-port "$g" "${common[@]}" & pids+=($!)
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$g/?event=getConnectionCount" | grep -q bench-n2 && break
    sleep 0.1
done
echo "--- fleet: 2 nodes, 1 gateway ($(nproc) cores)"
curl -s "http://127.0.0.1:$g/?event=getConnectionCount"; echo
echo "--- wrk -t2 -c50 -d$DURATION --latency ?event=getConnectionCount"
wrk -t2 -c50 -d"$DURATION" --latency "http://127.0.0.1:$g/?event=getConnectionCount"
echo "--- broadcast to $CONNECTIONS idle connections"
python3 Benchmarks/fleet/broadcast.py "http://127.0.0.1:$g" "ws://127.0.0.1:$n1/" "ws://127.0.0.1:$n2/" --connections "$CONNECTIONS" --pids "${pids[@]}"
echo "--- Pusher: REST events to $CONNECTIONS subscribers of one channel"
python3 Benchmarks/fleet/pusher.py "http://127.0.0.1:$g" "ws://127.0.0.1:$n1" "ws://127.0.0.1:$n2" --connections "$CONNECTIONS" --pids "${pids[@]}"
