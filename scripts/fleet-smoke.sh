#!/usr/bin/env bash
# The native fleet smoke test: the topology of the docker compose stack as local processes
# (1 redis-server, 3 `wscenter node`, 2 `wscenter gateway`) on free ports of 127.0.0.1,
# checked with curl and small Python clients through each gateway, then stopped.
#
#   scripts/fleet-smoke.sh [path/to/wscenter]
#
# The binary is the argument, else $WSCENTER_BIN, else `$(swift build --show-bin-path)/wscenter`
# (built with `swift build --product wscenter` when missing). It is copied to a temporary
# directory first, so a rebuild during the run does not matter.
#
# The script starts its own redis-server (even when REDIS_URL is set) with a random
# REDIS_PREFIX, and runs every wscenter process with a clean environment: only the options
# set here apply. Each check prints `ok - ...` or `not ok - ...` (with `#` detail lines);
# the last line is a summary. The exit status is 0 only when every check that ran passed.
# Every process is stopped on exit, on failure and on Ctrl-C/SIGTERM (and gets SIGKILL if
# this script is killed outright: PR_SET_PDEATHSIG). The processes' logs are in a temporary
# directory; their tails are printed when a check fails, and the directory is kept.
#
# Environment:
#   SMOKE_NEW_CHECKS  checks of features still being built: a comma-separated subset of
#                     readyz,metrics,drain; `all` (the default) or `none` (or empty). Those left out
#                     print `ok - ... # SKIP`.
#   SMOKE_LOG_LEVEL   LOG_LEVEL of the wscenter processes (default info).
#   SMOKE_KEEP_LOGS=1 keep the log directory even when every check passed.
#   PYTHON            the Python 3 to use (default python3); needs `websockets`, which is
#                     installed with pip when missing.
#
# Needs bash 4+, curl, redis-server, redis-cli, python3.
set -euo pipefail
export LC_ALL=C

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}
say() { echo "fleet-smoke: $*" >&2; }

case "${1:-}" in -h | --help) usage ;; esac
[[ $# -le 1 ]] || usage

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --------------------------------------------------------------------------- settings

SHUTDOWN_TIMEOUT=10      # seconds; given to every process (SHUTDOWN_TIMEOUT)
HEARTBEAT_TTL=30         # long on purpose: a drained node must leave master_ids at once, not by TTL
REMOVAL_WITHIN=2         # seconds after SIGTERM by which master_ids must have dropped the node
CLOSE_WITHIN=10          # seconds after SIGTERM by which its client must be closed with 1012
EXIT_WITHIN=$SHUTDOWN_TIMEOUT.5   # seconds after SIGTERM by which a process must have exited
                                  # (SHUTDOWN_TIMEOUT, and half a second to tear down; one decimal)
START_DEADLINE=40        # seconds for the fleet to answer /healthz (slow CI, debug build)
VISIBLE_DEADLINE=15      # seconds for the gateways to list the 3 nodes
WAIT=10                  # seconds for any message to reach a client
NODES=(smoke-node-1 smoke-node-2 smoke-node-3)
APP_ID=1 APP_KEY=app-key APP_SECRET=smoke-secret-4f1c9a   # the default Pusher app (node and gateway refuse the published app-secret)

new_checks=${SMOKE_NEW_CHECKS-all}
case "$new_checks" in
    all | 1 | yes | true) new_checks=readyz,metrics,drain ;;
    none | 0 | no | false | "") new_checks= ;;
esac
for name in ${new_checks//,/ }; do
    case "$name" in readyz | metrics | drain) ;; *) say "SMOKE_NEW_CHECKS: unknown check \"$name\" (readyz, metrics, drain, all, none)"; exit 2 ;; esac
done
want() { [[ ",$new_checks," == *",$1,"* ]]; }

# --------------------------------------------------------------------------- tools and binary

(( BASH_VERSINFO[0] >= 4 )) || { say "needs bash 4 or later"; exit 2; }
for tool in curl redis-server redis-cli; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool not found (make deps installs redis)"; exit 2; }
done
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || { say "$PY not found"; exit 2; }
if ! "$PY" -c 'import websockets.sync.client' >/dev/null 2>&1; then
    say "installing the Python package websockets"
    "$PY" -m pip install -q --disable-pip-version-check websockets >&2
    "$PY" -c 'import websockets.sync.client'
fi
PY=$("$PY" -c 'import sys; print(sys.executable)')   # a real path, not a shim

bin=${1:-${WSCENTER_BIN:-}}
if [[ -z "$bin" ]]; then
    command -v swift >/dev/null 2>&1 || { say "no binary given and swift not found"; exit 2; }
    bin="$(cd "$root" && swift build --show-bin-path)/wscenter"
    if [[ ! -x "$bin" ]]; then
        say "building wscenter"
        (cd "$root" && swift build --product wscenter) >&2
    fi
fi
[[ -x "$bin" ]] || { say "no executable at $bin"; exit 2; }

# --------------------------------------------------------------------------- state, cleanup

work=$(mktemp -d "${TMPDIR:-/tmp}/wscenter-smoke.XXXXXX")
declare -A pid_of=()     # process name -> pid (emptied once the process is reaped)
declare -A port_of=()    # process name -> the port it serves /healthz on
started=()               # process names, in start order
pass=0 fail=0 skip=0 finished=0
t_start=$SECONDS

now_ms() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then
        local t=${EPOCHREALTIME/,/.}
        echo $(( ${t%.*} * 1000 + 10#${t#*.} / 1000 ))
    else
        echo $(( $(date +%s%N) / 1000000 ))
    fi
}

running() {   # pid: alive and not a zombie
    [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
    [[ -r /proc/$1/stat ]] || return 0
    local stat
    { read -r stat </proc/"$1"/stat; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

stop_group() {   # seconds name...: SIGTERM, wait up to `seconds`, then SIGKILL; reap all
    local seconds=$1 name pid deadline
    shift
    for name; do
        pid=${pid_of[$name]:-}
        [[ -n "$pid" ]] && running "$pid" && kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$(( $(now_ms) + seconds * 1000 ))
    for name; do
        pid=${pid_of[$name]:-}
        [[ -n "$pid" ]] || continue
        while running "$pid" && (( $(now_ms) < deadline )); do sleep 0.05; done
        if running "$pid"; then
            say "$name (pid $pid) still running ${seconds} s after SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        pid_of[$name]=
    done
}

stop_all() {
    local clients=() services=() name
    for name in ${started[@]+"${started[@]}"}; do
        case "$name" in client-*) clients+=("$name") ;; redis) ;; *) services+=("$name") ;; esac
    done
    # Clients first (the nodes then have nothing to close), then nodes and gateways, Redis last.
    (( ${#clients[@]} == 0 )) || stop_group 3 "${clients[@]}"
    (( ${#services[@]} == 0 )) || stop_group $(( SHUTDOWN_TIMEOUT + 2 )) "${services[@]}"
    [[ -z "${pid_of[redis]:-}" ]] || stop_group 5 redis
}

print_tails() {
    local f
    echo "# ---------- logs (in $work) ----------"
    for f in "$work"/*.log; do
        [[ -s "$f" ]] || continue
        echo "# ----- $(basename "$f" .log): last 30 lines"
        tail -n 30 "$f" | sed 's/^/#   /'
    done
    for f in "$work"/client-*.jsonl; do
        [[ -e "$f" ]] || continue
        echo "# ----- $(basename "$f" .jsonl): last 10 frames"
        tail -n 10 "$f" | cut -c1-300 | sed 's/^/#   /'
    done
}

on_exit() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    stop_all
    if (( ! finished )); then
        echo "not ok - the smoke test was interrupted or broke (status $status)"
        print_tails
        echo "# fleet-smoke: ABORTED after $pass passed, $((fail + 1)) failed; logs kept in $work"
        rm -f "$work/wscenter"
        (( status != 0 )) || status=1
        exit "$status"
    fi
    rm -f "$work/wscenter"
    if (( fail == 0 )) && [[ "${SMOKE_KEEP_LOGS:-0}" != 1 ]]; then
        rm -rf "$work"
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------------------- reporting

ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() {   # description, then detail lines on stdin
    fail=$((fail + 1))
    echo "not ok - $1"
    sed 's/^/#   /'
}
skipped() { skip=$((skip + 1)); echo "ok - $1 # SKIP not in SMOKE_NEW_CHECKS"; }

# check DESCRIPTION COMMAND...: ok when the command succeeds; its output is the detail otherwise.
check() {
    local description=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$description"
    else
        not_ok "$description" <<<"$out"
    fi
}

finish() {
    stop_all
    (( fail == 0 )) || print_tails
    finished=1
    local skipped_note=""
    (( skip == 0 )) || skipped_note=", $skip skipped (SMOKE_NEW_CHECKS=${new_checks:-none})"
    if (( fail == 0 )); then
        echo "# fleet-smoke: PASS: $pass passed, 0 failed$skipped_note, $((SECONDS - t_start)) s"
        exit 0
    fi
    echo "# fleet-smoke: FAIL: $pass passed, $fail failed$skipped_note, $((SECONDS - t_start)) s; logs kept in $work"
    exit 1
}

# --------------------------------------------------------------------------- the Python helper

helper=$work/smoke.py
cat >"$helper" <<'PY'
"""Helpers of scripts/fleet-smoke.sh: ports, process launch, WebSocket recorders, waits, JSON
assertions, Pusher REST signing, and the drain probe. Standard library plus `websockets`."""
import json, os, signal, sys, time   # the rest is imported where needed: most calls are short-lived


def die_with_parent():
    """SIGKILL when the parent (the smoke script) dies, whatever the reason (Linux)."""
    import ctypes
    for name in ("libc.so.6", None):
        try:
            ctypes.CDLL(name, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            return
        except Exception:
            pass


def http_get(url, timeout=5.0):
    import urllib.error, urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def records(path):
    """The complete lines of a recorder's file, decoded."""
    try:
        with open(path, encoding="utf-8") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data.split("\n")[:-1] if line]


def parsed(record):
    try:
        value = json.loads(record.get("text", ""))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def is_protocol(record):
    """The first two messages of a native connection: open and reconnect_token."""
    value = parsed(record)
    return value is not None and (value.get("cmd") == "open" or value.get("type") == "reconnect_token")


def show(recs):
    return "\n".join("  " + json.dumps(r)[:300] for r in recs[-8:]) or "  (nothing)"


# ---- subcommands

def cmd_ports(n):
    import socket
    sockets = []
    for _ in range(int(n)):  # all bound at once: distinct
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in sockets))


def cmd_exec(parent, *argv):
    """exec argv with PR_SET_PDEATHSIG (kept across exec): same pid, dies with the script."""
    die_with_parent()
    if os.getppid() != int(parent):
        sys.exit(125)  # the script is already gone
    os.execvp(argv[0], list(argv))


def cmd_record(url, out, *send_after_first):
    """A WebSocket client that writes every frame it gets to `out`, one JSON line each:
    {"text": ...} / {"binary": hex} / {"close": code, "reason": ...} / {"error": ...}."""
    die_with_parent()
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    f = open(out, "a", buffering=1, encoding="utf-8")

    def put(record):
        record["t"] = time.time()
        f.write(json.dumps(record) + "\n")

    try:
        connection = connect(url, open_timeout=15, close_timeout=2, max_size=None, compression=None)
    except Exception as error:
        put({"error": f"connect to {url} failed: {error!r}"})
        return 1
    with connection as ws:
        first = True
        try:
            while True:
                message = ws.recv()
                put({"binary": message.hex()} if isinstance(message, bytes) else {"text": message})
                if first:
                    first = False
                    for text in send_after_first:
                        ws.send(text)
        except ConnectionClosed as closed:
            frame = closed.rcvd
            put({"close": frame.code if frame else None, "reason": frame.reason if frame else None})
        except Exception as error:
            put({"error": f"reader: {error!r}"})
    return 0


def match(kind, args, recs):
    """('yes', value) | ('no', None) | ('fail', why)."""
    if kind == "open":
        for r in recs:
            value = parsed(r)
            if value and value.get("cmd") == "open":
                return "yes", value.get("_id")
    elif kind == "text":
        if any(r.get("text") == args[0] for r in recs):
            return "yes", "ok"
    elif kind == "texts":  # exactly these API messages (after open and reconnect_token), in order
        expected = json.loads(args[0])
        got = [r["text"] for r in recs if "text" in r and not is_protocol(r)]
        if len(got) >= len(expected):
            return ("yes", "ok") if got == expected else ("fail", f"expected exactly {expected!r}, got {got!r}")
    elif kind == "pusher":  # event [channel [data]]
        for r in recs:
            value = parsed(r)
            if not value or value.get("event") != args[0]:
                continue
            if len(args) > 1 and value.get("channel") != args[1]:
                continue
            if len(args) > 2 and value.get("data") != args[2]:
                return "fail", f"{args[0]} on {args[1]} with data {value.get('data')!r}, expected {args[2]!r}"
            return "yes", json.dumps(value)
    elif kind == "close":
        for r in recs:
            if "close" in r:
                return "yes", str(r["close"])
    else:
        raise SystemExit(f"unknown wait kind {kind}")
    return "no", None


def cmd_wait(path, timeout, kind, *args):
    """Waits until the recorder's file holds a matching frame; prints what matched."""
    deadline = time.monotonic() + float(timeout)
    while True:
        recs = records(path)
        state, value = match(kind, args, recs)
        if state == "yes":
            print(value)
            return 0
        if state == "fail":
            print(f"{value}\nframes received:\n{show(recs)}")
            return 1
        ended = any("close" in r or "error" in r for r in recs)
        if ended or time.monotonic() >= deadline:
            why = "the connection ended" if ended else f"nothing within {timeout} s"
            print(f"waiting for {kind} {' '.join(args)}: {why}; frames received:\n{show(recs)}")
            return 1
        time.sleep(0.02)


def load(path):
    with open(path, "rb") as f:
        body = f.read()
    try:
        return json.loads(body), body
    except ValueError:
        return None, body


def cmd_assert(path, expr, *a):
    """Succeeds when the Python expression holds for d = the JSON in `path` (a = the args)."""
    d, body = load(path)
    if d is None:
        print(f"not JSON: {body[:500]!r}")
        return 1
    try:
        if eval(expr, {"d": d, "a": list(a)}):
            return 0
        why = "false"
    except Exception as error:
        why = repr(error)
    print(f"want: {expr} {list(a) if a else ''}({why})\ngot:  {body[:800].decode(errors='replace')}")
    return 1


def cmd_get(path, expr, *a):
    d, _ = load(path)
    value = eval(expr, {"d": d, "a": list(a)})
    print(value if isinstance(value, str) else json.dumps(value))


def cmd_trigger(out, port, app_id, key, secret, channel, event, data):
    """POST /apps/{id}/events, signed as Pusher signs it; prints the HTTP status."""
    import hashlib, hmac, urllib.error, urllib.request
    body = json.dumps({"name": event, "channels": [channel], "data": data}).encode()
    path = f"/apps/{app_id}/events"
    query = {"auth_key": key, "auth_timestamp": str(int(time.time())), "auth_version": "1.0",
             "body_md5": hashlib.md5(body).hexdigest()}
    query_string = "&".join(f"{k}={query[k]}" for k in sorted(query))
    signature = hmac.new(secret.encode(), f"POST\n{path}\n{query_string}".encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}?{query_string}&auth_signature={signature}",
                                     data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    with open(out, "wb") as f:
        f.write(answer)
    print(status)


def exited(pid):
    """The process is gone or a zombie (exited, not yet reaped by the script)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def cmd_drain(out, pid, client_file, removal_s, close_s, exit_s, token, expected_csv, *gateway_ports):
    """SIGTERM `pid`, then watch (a) master_ids through each gateway, probing every 0.1 s with
    overlapping requests until `removal_s`, (b) the close of the client in `client_file` until
    `close_s`, and (c) the exit of `pid` until `exit_s`. Writes a JSON report to `out`."""
    import threading, urllib.error, urllib.parse, urllib.request  # before the signal: probes start at once
    removal_s, close_s, exit_s, pid = float(removal_s), float(close_s), float(exit_s), int(pid)
    expected = sorted(expected_csv.split(","))
    query = urllib.parse.urlencode({"event": "getConnectionCount", "token": token})
    probes = {port: [] for port in gateway_ports}
    lock = threading.Lock()
    threads = []

    def probe(port):
        sent = time.time()
        try:
            status, body = http_get(f"http://127.0.0.1:{port}/?{query}", 5)
            ids = sorted(json.loads(body)["master_ids"]) if status == 200 else f"HTTP {status}"
        except Exception as error:
            ids = repr(error)
        with lock:
            probes[port].append({"sent": sent - t0, "answered": time.time() - t0, "master_ids": ids})

    def done(port):
        with lock:
            return any(p["master_ids"] == expected for p in probes[port])

    exit_after = []

    def watch_exit():
        while time.time() - t0 <= exit_s:
            if exited(pid):
                exit_after.append(time.time() - t0)
                return
            time.sleep(0.02)

    t0 = time.time()
    os.kill(pid, signal.SIGTERM)
    exit_watcher = threading.Thread(target=watch_exit, daemon=True)
    exit_watcher.start()
    while time.time() - t0 <= removal_s:
        pending = [port for port in gateway_ports if not done(port)]
        if not pending:
            break
        for port in pending:
            thread = threading.Thread(target=probe, args=(port,), daemon=True)
            thread.start()
            threads.append(thread)
        time.sleep(0.1)

    close = None
    while close is None:
        ends = [r for r in records(client_file) if "close" in r or "error" in r]
        if ends:
            close = ends[0]
        elif time.time() - t0 >= close_s:
            break
        else:
            time.sleep(0.02)
    for thread in threads:
        thread.join(max(0.0, t0 + removal_s + 6 - time.time()))
    exit_watcher.join(max(0.0, t0 + exit_s + 1 - time.time()))

    report = {"t0_ms": int(t0 * 1000), "expected": expected, "close": None, "gateways": {},
              "exit": round(exit_after[0], 3) if exit_after else None}
    if close is not None:
        report["close"] = {"code": close.get("close"), "reason": close.get("reason"),
                           "error": close.get("error"), "after": round(close["t"] - t0, 3)}
    for port in gateway_ports:
        with lock:
            seen = sorted(probes[port], key=lambda p: p["sent"])
        good = [p for p in seen if p["master_ids"] == expected and p["sent"] <= removal_s]
        report["gateways"][port] = {
            "after": round(good[0]["sent"], 3) if good else None,
            "answered_after": round(good[0]["answered"], 3) if good else None,
            "probes": len(seen),
            "last": seen[-1] if seen else None,
        }
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    sys.exit(globals()["cmd_" + command.replace("-", "_")](*arguments) or 0)
PY
helper() { "$PY" -S "$helper" "$@"; }   # -S: no site-packages, a faster start (stdlib only)

# --------------------------------------------------------------------------- processes

# launch NAME COMMAND...: runs COMMAND in the background, output to NAME.log, same pid as
# recorded (the helper execs it), SIGKILLed if this script dies. Call from the main shell only.
launch() {
    local name=$1
    shift
    "$PY" -S "$helper" exec "$$" "$@" </dev/null >>"$work/$name.log" 2>&1 &
    pid_of[$name]=$!
    started+=("$name")
}

# A clean environment for wscenter: nothing of the caller's options leaks in.
base_env=(env -i "PATH=$PATH" "HOME=${HOME:-/tmp}" "TMPDIR=${TMPDIR:-/tmp}")

cp "$bin" "$work/wscenter"
prefix="smoke-$(printf '%04x%04x' $RANDOM $RANDOM):"
token="smoke-$(printf '%04x%04x%04x' $RANDOM $RANDOM $RANDOM)"
log_level=${SMOKE_LOG_LEVEL:-info}
echo "# fleet-smoke: $bin (copied to $work), REDIS_PREFIX=$prefix, new checks: ${new_checks:-none}"

# ---- Redis (as scripts/with-redis.sh: a free port, no persistence; retried if the port is taken)
redis_port=
for attempt in 1 2 3 4 5; do
    port=$(helper ports 1)
    launch redis redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --protected-mode no --dir "$work"
    for _ in $(seq 100); do   # 10 s
        if redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:${pid_of[redis]}"; then
            redis_port=$port
            break 2
        fi
        running "${pid_of[redis]}" || break
        sleep 0.1
    done
    stop_group 2 redis
done
if [[ -z "$redis_port" ]]; then
    not_ok "redis-server started" < <(tail -n 20 "$work/redis.log" 2>/dev/null)
    finish
fi
ok "redis-server started on 127.0.0.1:$redis_port"

# ---- 3 nodes, 2 gateways
read -r -a ports <<<"$(helper ports 10)"
common_env=("REDIS_URL=redis://127.0.0.1:$redis_port" "REDIS_PREFIX=$prefix" "HOST=127.0.0.1"
            "TOKEN=$token" "APP_ID=$APP_ID" "APP_KEY=$APP_KEY" "APP_SECRET=$APP_SECRET"
            "LOG_LEVEL=$log_level" "NODE_HEARTBEAT_INTERVAL=1"
            "NODE_HEARTBEAT_TTL=$HEARTBEAT_TTL" "SHUTDOWN_TIMEOUT=$SHUTDOWN_TIMEOUT")
for i in 1 2 3; do
    name=node$i
    port_of[$name]=${ports[$((i - 1))]}
    launch "$name" "${base_env[@]}" "${common_env[@]}" "NODE_ID=${NODES[$((i - 1))]}" \
        "PORT=${port_of[$name]}" "HTTP_PORT=${ports[$((i + 4))]}" "$work/wscenter" node
done
for i in 1 2; do
    name=gateway$i
    port_of[$name]=${ports[$((i + 2))]}
    launch "$name" "${base_env[@]}" "${common_env[@]}" "NODE_ID=smoke-gateway-$i" \
        "HTTP_PORT=${port_of[$name]}" "PORT=${ports[$((i + 7))]}" "$work/wscenter" gateway
done
services=(node1 node2 node3 gateway1 gateway2)
gw_url() { echo "http://127.0.0.1:${port_of[gateway$1]}"; }

# ---- 1. /healthz on every process (polled until START_DEADLINE)
declare -A health=() last_code=()
deadline=$(( $(now_ms) + START_DEADLINE * 1000 ))
while :; do
    waiting=0
    for name in "${services[@]}"; do
        [[ -z "${health[$name]:-}" ]] || continue
        if ! running "${pid_of[$name]}"; then
            rc=0
            wait "${pid_of[$name]}" || rc=$?
            pid_of[$name]=
            health[$name]="exited with status $rc before answering"
            continue
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:${port_of[$name]}/healthz" || true)
        if [[ "$code" == 200 ]]; then health[$name]=200; else waiting=1; last_code[$name]=$code; fi
    done
    (( waiting )) || break
    if (( $(now_ms) >= deadline )); then
        for name in "${services[@]}"; do
            [[ -n "${health[$name]:-}" ]] || health[$name]="no 200 within $START_DEADLINE s (last: HTTP ${last_code[$name]:-none})"
        done
        break
    fi
    sleep 0.1
done
healthy=1
for name in "${services[@]}"; do
    if [[ "${health[$name]}" == 200 ]]; then
        ok "$name answers GET /healthz 200 (port ${port_of[$name]})"
    else
        healthy=0
        not_ok "$name answers GET /healthz 200 (port ${port_of[$name]})" <<<"${health[$name]}"
    fi
done
(( healthy )) || finish

# --------------------------------------------------------------------------- the event API

# api GATEWAY OUT EVENT [NAME[param]=value ...]: GET / through gateway 1 or 2, values
# URL-encoded; the body goes to OUT, the HTTP status to stdout. $api_token overrides the token.
api() {
    local gateway=$1 out=$2 event=$3 kv
    shift 3
    local args=(--data-urlencode "event=$event" --data-urlencode "token=${api_token-$token}")
    for kv; do args+=(--data-urlencode "$kv"); done
    curl -sS -g -G -o "$out" -w '%{http_code}' --max-time 10 "$(gw_url "$gateway")/" "${args[@]}" || true
}
expect_api() {   # STATUS EXPR GATEWAY EVENT [params...]: the status, and EXPR true of the JSON
    local status=$1 expr=$2 gateway=$3 out=$work/answer.json got
    shift 3
    rm -f "$out"
    got=$(api "$gateway" "$out" "$@")
    [[ -s "$out" ]] || echo '""' >"$out"
    if [[ "$got" != "$status" ]]; then
        echo "HTTP $got, expected $status: $(head -c 800 "$out")"
        return 1
    fi
    helper assert "$out" "$expr"
}
nodes_py="[$(printf '"%s",' "${NODES[@]}")]"
all_nodes="d['code']==0 and d['master_ids']==$nodes_py"

# ---- 2. master_ids: exactly the 3 nodes, through each gateway (polled: heartbeats may lag)
wait_master_ids() {   # gateway, python list of ids, seconds
    local deadline=$(( $(now_ms) + $3 * 1000 )) out
    while :; do
        out=$(expect_api 200 "d['code']==0 and d['master_ids']==$2" "$1" getConnectionCount) && return 0
        (( $(now_ms) < deadline )) || { echo "$out"; return 1; }
        sleep 0.1
    done
}
for g in 1 2; do
    check "gateway $g: getConnectionCount answers code 0, master_ids = ${NODES[*]}" \
        wait_master_ids "$g" "$nodes_py" "$VISIBLE_DEADLINE"
done

# ---- 3. precise errors
for g in 1 2; do
    api_token="wrong-$token" check "gateway $g: a bad token gets HTTP 401, code 1, msg \"invalid token\"" \
        expect_api 401 "d=={'code':1,'msg':'invalid token','extra':[],'master_ids':[],'data':{}}" "$g" getConnectionCount
    check "gateway $g: an unknown event gets HTTP 400, code 1, msg naming it" \
        expect_api 400 "d=={'code':1,'msg':'unknown event \"smokeNoSuchEvent\"','extra':[],'master_ids':[],'data':{}}" "$g" smokeNoSuchEvent
done

# --------------------------------------------------------------------------- native clients

# ---- 4. one client per node, bound through gateway 1, messages through gateway 2, broadcast
declare -A cid=()
clients_up=1
for i in 1 2 3; do
    launch "client-$i" "$PY" "$helper" record "ws://127.0.0.1:${port_of[node$i]}/" "$work/client-$i.jsonl"
done
for i in 1 2 3; do
    if out=$(helper wait "$work/client-$i.jsonl" "$WAIT" open) && [[ "$out" =~ ^[0-9a-f]{32}$ ]]; then
        cid[$i]=$out
        ok "native client on ${NODES[$((i - 1))]} got {\"cmd\":\"open\",\"_id\":\"$out\"}"
    else
        clients_up=0
        not_ok "native client on ${NODES[$((i - 1))]} got {\"cmd\":\"open\",\"_id\":<32 hex>}" <<<"$out"
    fi
done

one_on() {   # python dict: 1 on node $1, 0 elsewhere
    local i s="{"
    for i in 1 2 3; do s+="'${NODES[$((i - 1))]}':$([[ $i == "$1" ]] && echo 1 || echo 0),"; done
    echo "$s}"
}
msg_for() { printf 'smoke to user %s: h\xc3\xa9llo & "quotes" + 100%% <%s>' "$1" "$prefix"; }
broadcast_msg="smoke broadcast ü 1+1=2 &x=[y] $prefix"

if (( clients_up )); then
    for i in 1 2 3; do
        check "gateway 1: bindId smoke-user-$i to the client on ${NODES[$((i - 1))]}" \
            expect_api 200 "$all_nodes and d['data']=={'bindId':$(one_on "$i")}" 1 bindId \
            "bindId[id]=smoke-user-$i" "bindId[_id]=${cid[$i]}"
    done
    for i in 1 2 3; do
        check "gateway 2: sendMessageToId smoke-user-$i answers 1 on ${NODES[$((i - 1))]} only" \
            expect_api 200 "$all_nodes and d['data']=={'sendMessageToId':$(one_on "$i")}" 2 sendMessageToId \
            "sendMessageToId[id]=smoke-user-$i" "sendMessageToId[msg]=$(msg_for "$i")"
    done
    for i in 1 2 3; do
        check "the client on ${NODES[$((i - 1))]} received its exact message" \
            helper wait "$work/client-$i.jsonl" "$WAIT" text "$(msg_for "$i")"
    done
    check "gateway 1: broadcast answers 1 on every node" \
        expect_api 200 "$all_nodes and d['data']=={'broadcast':{n:1 for n in d['master_ids']}}" 1 broadcast \
        "broadcast[msg]=$broadcast_msg"
    for i in 1 2 3; do
        expected=$("$PY" -S -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$(msg_for "$i")" "$broadcast_msg")
        check "the client on ${NODES[$((i - 1))]} received exactly its message, then the broadcast" \
            helper wait "$work/client-$i.jsonl" "$WAIT" texts "$expected"
    done
    for g in 1 2; do
        check "gateway $g: getConnectionCount is 1 on each node, 3 in total" \
            expect_api 200 "$all_nodes and d['data']['getConnectionCount']=={n:1 for n in d['master_ids']} and sum(d['data']['getConnectionCount'].values())==3" \
            "$g" getConnectionCount
    done
else
    not_ok "binding, sending and broadcasting to the native clients" <<<"not run: a client did not open"
fi

# --------------------------------------------------------------------------- Pusher

# ---- 5. a raw Pusher client on node 2, subscribed to `smoke`; an event through gateway 2's REST API
pusher_data="{\"hello\":\"smoke ü\",\"prefix\":\"$prefix\"}"
launch client-pusher "$PY" "$helper" record "ws://127.0.0.1:${port_of[node2]}/app/$APP_KEY?protocol=7" \
    "$work/client-pusher.jsonl" '{"event":"pusher:subscribe","data":{"channel":"smoke"}}'
pusher_established() {
    local frame
    frame=$(helper wait "$work/client-pusher.jsonl" "$WAIT" pusher pusher:connection_established) || { echo "$frame"; return 1; }
    "$PY" -S -c 'import json, re, sys
data = json.loads(json.loads(sys.argv[1])["data"])
assert re.fullmatch(r"\d+\.\d+", data["socket_id"]), data' "$frame"
}
if check "Pusher client on ${NODES[1]} (/app/$APP_KEY?protocol=7) gets pusher:connection_established with a socket_id" \
        pusher_established &&
    check "Pusher client subscribed to the public channel smoke" \
        helper wait "$work/client-pusher.jsonl" "$WAIT" pusher pusher_internal:subscription_succeeded smoke; then
    trigger() {
        local out=$work/trigger.json status
        status=$(helper trigger "$out" "${port_of[gateway2]}" "$APP_ID" "$APP_KEY" "$APP_SECRET" smoke smoke-event "$pusher_data")
        [[ "$status" == 200 ]] || { echo "HTTP $status: $(head -c 800 "$out")"; return 1; }
        helper assert "$out" "d=={}"
    }
    check "gateway 2: signed POST /apps/$APP_ID/events answers 200 {}" trigger
    check "the Pusher client received smoke-event on smoke with the exact data" \
        helper wait "$work/client-pusher.jsonl" "$WAIT" pusher smoke-event smoke "$pusher_data"
fi

# --------------------------------------------------------------------------- operations (new)

# ---- 6. /readyz and /metrics on every process
readyz() {
    local out=$work/readyz.out code
    code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/readyz" || true)
    [[ "$code" == 200 ]] || { echo "HTTP $code: $(head -c 300 "$out")"; return 1; }
    helper assert "$out" "True"   # any JSON
}
metrics() {   # port, metric a sample line must start with
    local out=$work/metrics.out code
    code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/metrics" || true)
    [[ "$code" == 200 ]] || { echo "HTTP $code: $(head -c 300 "$out")"; return 1; }
    grep -q "^$2" "$out" || { echo "no line starting with $2 in:"; head -n 20 "$out"; return 1; }
}
for name in "${services[@]}"; do
    if want readyz; then
        check "$name answers GET /readyz 200 with JSON" readyz "${port_of[$name]}"
    else
        skipped "$name answers GET /readyz 200 with JSON"
    fi
done
for name in "${services[@]}"; do
    case "$name" in node*) metric=wscenter_connections ;; *) metric=wscenter_api_requests_total ;; esac
    if want metrics; then
        check "$name: GET /metrics has a $metric line" metrics "${port_of[$name]}" "$metric"
    else
        skipped "$name: GET /metrics has a $metric line"
    fi
done

# ---- 7. drain: SIGTERM node 3, then gateway 2
wait_exit() {   # name, deadline (ms): sets exit_rc, exit_ms (when seen gone); 1 if still running
    local pid=${pid_of[$1]}
    exit_rc=
    while running "$pid"; do
        (( $(now_ms) < $2 )) || return 1
        sleep 0.05
    done
    exit_ms=$(now_ms)
    exit_rc=0
    wait "$pid" || exit_rc=$?
    pid_of[$1]=
}
exit_check() {   # description, name, SIGTERM time (ms): exits 0 within EXIT_WITHIN
    local after
    if ! wait_exit "$2" $(( $3 + ${EXIT_WITHIN/./} * 100 )); then
        not_ok "$1" <<<"still running $EXIT_WITHIN s after SIGTERM"
        return
    fi
    after="$(( (exit_ms - $3) / 1000 )).$(printf '%03d' $(( (exit_ms - $3) % 1000 ))) s"
    if (( exit_rc == 0 )); then
        ok "$1 (after $after)"
    else
        not_ok "$1" <<<"exited with status $exit_rc after $after"
    fi
}
two_left() {   # both gateways list exactly nodes 1 and 2
    local g
    for g in 1 2; do
        expect_api 200 "d['code']==0 and d['master_ids']==['${NODES[0]}','${NODES[1]}']" "$g" getConnectionCount || return 1
    done
}
drain_checks=(
    "SIGTERM ${NODES[2]}: its native client is closed with 1012 within $CLOSE_WITHIN s"
    "SIGTERM ${NODES[2]}: within $REMOVAL_WITHIN s gateway 1 lists only ${NODES[0]} ${NODES[1]} (TTL is $HEARTBEAT_TTL s)"
    "SIGTERM ${NODES[2]}: within $REMOVAL_WITHIN s gateway 2 lists only ${NODES[0]} ${NODES[1]} (TTL is $HEARTBEAT_TTL s)"
    "SIGTERM ${NODES[2]}: it exits 0 within SHUTDOWN_TIMEOUT ($SHUTDOWN_TIMEOUT s)"
    "SIGTERM ${NODES[2]}: once it is gone, both gateways still list only ${NODES[0]} ${NODES[1]} (no late heartbeat)"
    "SIGTERM gateway2: it exits 0 within SHUTDOWN_TIMEOUT ($SHUTDOWN_TIMEOUT s)"
)
if ! want drain; then
    for c in "${drain_checks[@]}"; do skipped "$c"; done
elif [[ -z "${cid[3]:-}" ]]; then
    for c in "${drain_checks[@]}"; do not_ok "$c" <<<"not run: node 3 has no client"; done
else
    # The helper sends the SIGTERM itself, so that its timings start at the signal.
    report=$work/drain.json
    helper drain "$report" "${pid_of[node3]}" "$work/client-3.jsonl" "$REMOVAL_WITHIN" "$CLOSE_WITHIN" \
        "$EXIT_WITHIN" "$token" "${NODES[0]},${NODES[1]}" "${port_of[gateway1]}" "${port_of[gateway2]}"
    t0_ms=$(helper get "$report" "d['t0_ms']")
    close=$(helper get "$report" "'%s %s' % (d['close']['code'], d['close']['after']) if d['close'] else ''")
    if [[ "$close" == "1012 "* ]]; then
        ok "${drain_checks[0]} (after ${close#* } s)"
    elif [[ -n "$close" ]]; then
        not_ok "${drain_checks[0]}" < <(helper get "$report" "'closed with %s (reason %r, error %r) after %s s' % tuple(d['close'][k] for k in ('code', 'reason', 'error', 'after'))")
    else
        not_ok "${drain_checks[0]}" <<<"not closed within $CLOSE_WITHIN s"
    fi
    for g in 1 2; do
        gp=${port_of[gateway$g]}
        after=$(helper get "$report" "d['gateways']['$gp']['after'] or ''")
        if [[ -n "$after" ]]; then
            ok "${drain_checks[$g]} (after $after s)"
        else
            not_ok "${drain_checks[$g]}" < <(helper get "$report" "'%d probes; the last one, sent after %.3f s: %s' % (d['gateways']['$gp']['probes'], d['gateways']['$gp']['last']['sent'], d['gateways']['$gp']['last']['master_ids']) if d['gateways']['$gp']['last'] else 'no probe answered'")
        fi
    done
    exit_after=$(helper get "$report" "d['exit'] if d['exit'] is not None else ''")
    if [[ -z "$exit_after" ]]; then
        not_ok "${drain_checks[3]}" <<<"still running $EXIT_WITHIN s after SIGTERM"
    elif wait_exit node3 $(( $(now_ms) + 5000 )) && (( exit_rc == 0 )); then
        ok "${drain_checks[3]} (after $exit_after s)"
    else
        not_ok "${drain_checks[3]}" <<<"exited with status ${exit_rc:-?} after $exit_after s"
    fi
    check "${drain_checks[4]}" two_left
    t0_ms=$(now_ms)
    kill -TERM "${pid_of[gateway2]}"
    exit_check "${drain_checks[5]}" gateway2 "$t0_ms"
fi

finish
