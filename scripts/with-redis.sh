#!/usr/bin/env bash
# Runs a command with REDIS_URL pointing at a Redis.
#
#   scripts/with-redis.sh swift test
#
# If REDIS_URL is already set, the command runs against that Redis unchanged.
# Otherwise a throwaway redis-server is started on a free port of 127.0.0.1, with
# no persistence, in a temporary directory; REDIS_URL=redis://127.0.0.1:PORT is
# exported for the command; and the server is stopped when the command ends,
# fails or is interrupted. The command's exit status is preserved.
#
# With WITH_CLUSTER=1 (and REDIS_CLUSTER_NODES not set), a throwaway Redis Cluster of 3
# masters (no replicas) is started too, and REDIS_CLUSTER_NODES=127.0.0.1:P1,... exported:
# the broker contract tests run on it as well (`make test` sets it for `swift test`).
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

own_redis=""
if [[ -n "${REDIS_URL:-}" ]]; then
    # Print the URL without any password.
    echo "with-redis: using REDIS_URL=$(sed -E 's#//[^@/]*@#//***@#' <<<"$REDIS_URL")" >&2
    own_redis=1
    if [[ "${WITH_CLUSTER:-0}" != 1 || -n "${REDIS_CLUSTER_NODES:-}" ]]; then
        exec "$@"
    fi
fi

for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "with-redis: $tool not found; run \`make deps\`, or set REDIS_URL to use your own Redis" >&2
        exit 1
    fi
done

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    while true; do
        port=$((20000 + RANDOM % 40000))
        # Free if nothing accepts a connection there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/wscenter-redis.XXXXXX")
pid=""
cluster_pids=()

cleanup() {
    for p in "$pid" "${cluster_pids[@]}"; do
        if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A cluster node on a port whose bus port (+10000) is also free; prints the port.
start_cluster_node() {
    local port node_dir p
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 9000))
        node_dir="$dir/cluster-$port"
        mkdir -p "$node_dir"
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --protected-mode no \
            --dir "$node_dir" --logfile "$node_dir/redis.log" --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-node-timeout 2000 --repl-diskless-sync-delay 0 &
        p=$!
        for _ in $(seq 100); do
            if redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$p"; then
                cluster_pids+=("$p")
                CLUSTER_PORT=$port
                return 0
            fi
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    return 1
}

start_cluster() {
    local nodes=() port
    for _ in 1 2 3; do
        start_cluster_node || { echo "with-redis: a cluster node did not start" >&2; return 1; }
        nodes+=("127.0.0.1:$CLUSTER_PORT")
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-yes >"$dir/cluster-create.log" 2>&1 \
        || { echo "with-redis: redis-cli --cluster create failed:" >&2; tail -n 20 "$dir/cluster-create.log" >&2; return 1; }
    for node in "${nodes[@]}"; do
        for _ in $(seq 200); do  # 20 seconds
            redis-cli -p "${node##*:}" cluster info 2>/dev/null | tr -d '\r' | grep -qx "cluster_state:ok" && break
            sleep 0.1
        done
    done
    REDIS_CLUSTER_NODES=$(IFS=,; echo "${nodes[*]}")
    export REDIS_CLUSTER_NODES
    echo "with-redis: started a Redis Cluster of 3 masters at $REDIS_CLUSTER_NODES" >&2
}

if [[ "${WITH_CLUSTER:-0}" == 1 && -z "${REDIS_CLUSTER_NODES:-}" ]]; then
    start_cluster || exit 1
fi

if [[ -n "$own_redis" ]]; then
    status=0
    "$@" || status=$?
    exit "$status"
fi

# Start redis-server; if it dies at once (port taken meanwhile), try another port.
up=""
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --protected-mode no --dir "$dir" --logfile "$dir/redis.log" &
    pid=$!
    for _ in $(seq 100); do  # 10 seconds
        # Up when it answers, and it is ours (not another server that took the port).
        if redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid"; then
            up=1
            break 2
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
done

if [[ -z "$up" ]]; then
    echo "with-redis: redis-server did not start; its log:" >&2
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    exit 1
fi

export REDIS_URL="redis://127.0.0.1:$port"
export REDIS_PID=$pid  # for scripts that measure it (Benchmarks/fleet/gateway-cpu.sh)
echo "with-redis: started redis-server (pid $pid) at $REDIS_URL" >&2

status=0
"$@" || status=$?
exit "$status"
