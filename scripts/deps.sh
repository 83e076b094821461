#!/usr/bin/env bash
# Installs what building and testing wscenter needs beyond Swift: the hiredis
# headers (libhiredis-dev), redis-server, redis-cli and redis-benchmark
# (redis-tools), pkg-config, curl (the fleet smoke test) and openssl (certificates for the TLS
# tests). Does nothing, silently, when all are present.
# Uses apt-get (Debian, Ubuntu), with sudo when not root.
set -euo pipefail

missing=()
for tool in redis-server redis-cli redis-benchmark pkg-config curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v pkg-config >/dev/null 2>&1 && ! pkg-config --exists hiredis; then
    missing+=("hiredis headers")
elif ! command -v pkg-config >/dev/null 2>&1; then
    missing+=("hiredis headers (unchecked)")
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: missing: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: no apt-get here; install them yourself (macOS: brew install redis hiredis pkg-config)" >&2
    exit 1
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps: not root and no sudo; run as root: apt-get install -y libhiredis-dev redis-server redis-tools pkg-config curl openssl" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "deps: installing libhiredis-dev redis-server redis-tools pkg-config curl openssl with apt-get" >&2
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends libhiredis-dev redis-server redis-tools pkg-config curl openssl >/dev/null
