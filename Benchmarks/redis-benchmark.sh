#!/usr/bin/env bash
# The redis-benchmark figures docs/performance.md compares our PUBLISH benchmarks with:
# PUBLISH of a 64-byte payload, 16 commands pipelined per connection (-P 16), with one
# client (-c 1, the same 16 in flight as our headline benchmark) and with the default 50.
#
#   REDIS_URL=redis://127.0.0.1:6379 Benchmarks/redis-benchmark.sh [REQUESTS]
#   scripts/with-redis.sh Benchmarks/redis-benchmark.sh       (a throwaway server)
#
# redis-benchmark 7.0 has no built-in PUBLISH test (`-t publish` runs nothing), and for an
# arbitrary command it ignores -d and does not expand __data__, so the payload is written
# out literally. Prints one line per run: "<label>: <requests per second>".
set -euo pipefail

requests=${1:-1000000}
url=${REDIS_URL:-redis://127.0.0.1:6379}
authority=${url#redis://}
authority=${authority%%/*}
auth=()
if [[ "$authority" == *@* ]]; then
    # redis://[user]:password@host: pass the password (and user) on; percent-encoding is not decoded.
    userinfo=${authority%@*}
    if [[ "$userinfo" == *:* ]]; then
        [[ -n "${userinfo%%:*}" ]] && auth+=(--user "${userinfo%%:*}")
        auth+=(-a "${userinfo#*:}")
    else
        auth+=(-a "$userinfo")
    fi
    authority=${authority##*@}
fi
host=${authority%:*}
port=${authority##*:}
[[ "$authority" == *:* ]] || port=6379

for tool in redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found (make deps)" >&2; exit 1; }
done
# redis-benchmark retries forever when nothing listens, so check first.
if ! timeout 5 redis-cli -h "$host" -p "$port" "${auth[@]}" --no-auth-warning ping 2>/dev/null | grep -q PONG; then
    echo "no Redis answering at $host:$port (set REDIS_URL, or run under scripts/with-redis.sh)" >&2
    exit 1
fi
payload=$(printf 'p%.0s' $(seq 64))

run() {
    local label=$1
    shift
    # -q prints progress lines separated by \r, then "<cmd>: N requests per second, p50=...".
    local rps
    rps=$(redis-benchmark -h "$host" -p "$port" "${auth[@]}" -n "$requests" -q "$@" PUBLISH bench_ch "$payload" \
        | tr '\r' '\n' | grep 'requests per second' | tail -n 1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
    printf '%s: %s\n' "$label" "$rps"
}

echo "redis-benchmark $(redis-benchmark --version | awk '{print $2}') against $host:$port, $requests PUBLISH, 64-byte payload"
run "redis-benchmark -c 1 -P 16" -c 1 -P 16
run "redis-benchmark -c 50 -P 16" -c 50 -P 16
