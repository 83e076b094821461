#!/usr/bin/env python3
"""Webhook delivery throughput of one `wscenter hooks` worker.

Queues N events in the stream of one Pusher app (with `redis-cli --pipe`, in the format
docs/webhooks.md gives), starts one worker whose endpoint is a local HTTP receiver that answers
200 at once, and measures how long the worker takes to deliver them all: events/s and
requests/s (a request carries up to 100 events), and the worker's CPU per event.

    scripts/with-redis.sh python3 Benchmarks/hooks/throughput.py --events 50000
    WSCENTER_BIN=.build/release/wscenter ...   (default: the release build)
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    redis_url = os.environ["REDIS_URL"]
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    binary = os.environ.get("WSCENTER_BIN", os.path.join(root, ".build", "release", "wscenter"))
    prefix = f"hookbench-{secrets.token_hex(4)}:"

    received = {"events": 0, "requests": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            count = len(json.loads(body)["events"])
            with lock:
                received["events"] += count
                received["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"

    # Queue the events first, so that the worker's rate is measured alone.
    key = f"{prefix}hooks:pusher:1"
    now = int(time.time() * 1000)
    lines = []
    for index in range(args.events):
        event_id = secrets.token_hex(16)
        event = json.dumps({"name": "channel_occupied", "channel": f"ch-{index}", "event_id": event_id})
        parts = ["XADD", key, "MAXLEN", "~", "1000000", "*", "i", event_id, "t", str(now), "n", "channel_occupied",
                 "c", f"ch-{index}", "e", event]
        lines.append(f"*{len(parts)}\r\n" + "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts))
    subprocess.run(["redis-cli", "-u", redis_url, "--pipe"], input="".join(lines).encode(), check=True, capture_output=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "WEBHOOK_"))}
    env.update({"REDIS_URL": redis_url, "REDIS_PREFIX": prefix, "APP_ID": "1", "APP_KEY": "bench-key",
                "APP_SECRET": "bench-secret-3f9a", "APP_WEBHOOK_URL": url, "LOG_LEVEL": "warning"})
    log = tempfile.NamedTemporaryFile(prefix="hookbench-", suffix=".log", delete=False)
    started = time.monotonic()
    worker = subprocess.Popen([binary, "hooks"], env=env, stdout=log, stderr=log)
    try:
        while received["events"] < args.events:
            if worker.poll() is not None:
                raise SystemExit(f"wscenter hooks exited: {open(log.name).read()}")
            if time.monotonic() - started > 300:
                raise SystemExit(f"only {received['events']} of {args.events} events in 300 s")
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        with open(f"/proc/{worker.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        worker.terminate()
        worker.wait(10)
        server.shutdown()
    print(f"hooks throughput: {args.events} events in {elapsed:.2f} s (start-up included): "
          f"{args.events / elapsed:,.0f} events/s, {received['requests'] / elapsed:,.0f} requests/s "
          f"({args.events / received['requests']:.0f} events per request); "
          f"worker CPU {cpu:.2f} s = {cpu * 1e6 / args.events:.1f} µs per event")


if __name__ == "__main__":
    main()
