#!/usr/bin/env bash
# Interop tests with real third-party Pusher clients (pysher, the official `pusher`
# server SDK, `websockets`) against a real fleet: 2 nodes + 2 gateways on one Redis.
#
#   scripts/with-redis.sh scripts/interop.sh [PYTEST ARGS...]
#   WITH_CLUSTER=1 INTEROP_BROKER=cluster scripts/with-redis.sh scripts/interop.sh
#
# The second form runs the fleets on the Redis Cluster (REDIS_CLUSTER_NODES) instead; the
# chaos tests keep their own Redis, which is what they freeze and kill.
#
# Needs REDIS_URL (scripts/with-redis.sh provides one). The binary is $WSCENTER_BIN, or
# else `$(swift build --show-bin-path)/wscenter` (built with `swift build --product
# wscenter` when missing). Missing Python packages are installed with pip. The fleet is
# started and stopped by Tests/interop/conftest.py. The exit status is pytest's.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

python=${PYTHON:-python3}

if [[ -z "${REDIS_URL:-}" ]]; then
    echo "interop: REDIS_URL is not set; run as: scripts/with-redis.sh scripts/interop.sh" >&2
    exit 2
fi
if [[ "${INTEROP_BROKER:-}" == cluster && -z "${REDIS_CLUSTER_NODES:-}" ]]; then
    echo "interop: INTEROP_BROKER=cluster needs REDIS_CLUSTER_NODES; run as: WITH_CLUSTER=1 INTEROP_BROKER=cluster scripts/with-redis.sh scripts/interop.sh" >&2
    exit 2
fi

# 1. Python packages, only when one is missing.
if ! "$python" -c 'import pusher, pysher, websockets, websockets.sync.client, pytest' >/dev/null 2>&1; then
    echo "interop: installing Python packages (pusher pysher websockets pytest)" >&2
    "$python" -m pip install -q --disable-pip-version-check pusher pysher websockets pytest >&2
    "$python" -c 'import pusher, pysher, websockets, websockets.sync.client, pytest'
fi

# 2. The binary.
if [[ -z "${WSCENTER_BIN:-}" ]]; then
    bin_dir=$(swift build --show-bin-path)
    WSCENTER_BIN="$bin_dir/wscenter"
    if [[ ! -x "$WSCENTER_BIN" ]]; then
        echo "interop: building wscenter" >&2
        swift build --product wscenter >&2
    fi
fi
if [[ ! -x "$WSCENTER_BIN" ]]; then
    echo "interop: no executable at $WSCENTER_BIN" >&2
    exit 1
fi
export WSCENTER_BIN
echo "interop: using $WSCENTER_BIN" >&2

# 3. The tests. No bytecode or pytest cache in the tree.
export PYTHONDONTWRITEBYTECODE=1
status=0
"$python" -m pytest "$root/Tests/interop" "$@" || status=$?
exit "$status"
