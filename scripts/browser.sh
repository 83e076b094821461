#!/usr/bin/env bash
# Browser tests: the admin console at /ui/ and /client.js in headless Chromium (Debian
# `chromium` and `chromium-driver`, driven from Python selenium) against a real fleet of
# 2 nodes + 2 gateways on one Redis, started by Tests/browser/conftest.py.
#
#   scripts/with-redis.sh scripts/browser.sh [PYTEST ARGS...]
#
# Needs REDIS_URL (scripts/with-redis.sh provides one). Installs what is missing: chromium
# and chromium-driver with apt-get (as root, or with sudo), selenium, pytest, websockets and
# pusher with pip. The binary is $WSCENTER_BIN, or else `$(swift build --show-bin-path)/wscenter`.
# SCREENSHOTS=DIR saves a screenshot of each view there (`make screenshots` uses docs/img).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

python=${PYTHON:-python3}

if [[ -z "${REDIS_URL:-}" ]]; then
    echo "browser: REDIS_URL is not set; run as: scripts/with-redis.sh scripts/browser.sh" >&2
    exit 2
fi

# 1. Chromium and its driver, only when one is missing.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "browser: chromium and chromedriver are missing and there is no apt-get; install them yourself" >&2
        exit 1
    fi
    sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { echo "browser: not root and no sudo; run as root: apt-get install -y chromium chromium-driver" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "browser: installing chromium chromium-driver with apt-get" >&2
    apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    "${apt[@]}" update -qq
    "${apt[@]}" install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

# 2. Python packages, only when one is missing.
if ! "$python" -c 'import selenium, pytest, websockets, pusher' >/dev/null 2>&1; then
    echo "browser: installing Python packages (selenium pytest websockets pusher)" >&2
    "$python" -m pip install -q --disable-pip-version-check selenium pytest websockets pusher >&2
    "$python" -c 'import selenium, pytest, websockets, pusher'
fi

# 3. The binary.
if [[ -z "${WSCENTER_BIN:-}" ]]; then
    WSCENTER_BIN="$(swift build --show-bin-path)/wscenter"
    if [[ ! -x "$WSCENTER_BIN" ]]; then
        echo "browser: building wscenter" >&2
        swift build --product wscenter >&2
    fi
fi
[[ -x "$WSCENTER_BIN" ]] || { echo "browser: no executable at $WSCENTER_BIN" >&2; exit 1; }
export WSCENTER_BIN
echo "browser: using $WSCENTER_BIN and $(chromium --version 2>/dev/null || echo chromium)" >&2

# 4. The tests. No bytecode or pytest cache in the tree.
export PYTHONDONTWRITEBYTECODE=1
status=0
"$python" -m pytest "$root/Tests/browser" "$@" || status=$?
exit "$status"
