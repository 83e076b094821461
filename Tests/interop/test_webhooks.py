"""`wscenter hooks` delivers what the webhook stream holds, and the official Python SDK
(`pusher`) accepts the requests: `validate_webhook` checks the key, the signature of the exact
body and `time_ms`.

Events are queued here with redis-cli in the stream format docs/webhooks.md documents, as a
node queues them; the producers (channel and presence transitions) are not built yet."""

from __future__ import annotations

import http.server
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time

import pusher

from interop_support import (APP1, _die_with_parent, broker_env, free_port, http_get, poll, redis_cli, suite_cluster_nodes,
                              wscenter_binary)


class Receiver:
    """A real HTTP server that records each POST and answers with the next status (0: never
    answers, as a receiver that hangs)."""

    def __init__(self, statuses: list[int]):
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 0:
                    time.sleep(60)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pusher/webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def queue_event(redis_url: str, key: str, name: str, channel: str, extra: dict) -> str:
    event_id = secrets.token_hex(16)
    event = {"name": name, "channel": channel, **extra, "event_id": event_id}
    subprocess.run(
        redis_cli(redis_url, suite_cluster_nodes()) + ["XADD", key, "MAXLEN", "~", "1000", "*",
         "i", event_id, "t", str(int(time.time() * 1000)), "n", name, "c", channel, "e", json.dumps(event)],
        check=True, capture_output=True,
    )
    return event_id


def start_worker(env: dict, log_path: str) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen([wscenter_binary(), "hooks"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, preexec_fn=_die_with_parent)


def worker_env(redis_url: str, prefix: str, url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "WEBHOOK_", "REDIS_", "HTTP_PORT"))}
    env.update(broker_env(redis_url, suite_cluster_nodes()))
    env.update({
        "REDIS_PREFIX": prefix, "APP_ID": APP1["id"], "APP_KEY": APP1["key"],
        "APP_SECRET": APP1["secret"], "APP_WEBHOOK_URL": url, "LOG_LEVEL": "info", "HTTP_PORT": str(free_port()),
        "HOST": "127.0.0.1",
    })
    return env


def test_a_killed_workers_events_are_delivered_by_another():
    """kill -9 a worker while it holds events (its receiver hangs): another worker takes them
    over once they have been idle for 10 s, and delivers them with the same event_id."""
    redis_url = os.environ["REDIS_URL"]
    prefix = f"interop-hooks-{secrets.token_hex(4)}:"
    receiver = Receiver(statuses=[0])
    log_path = os.path.join(tempfile.mkdtemp(prefix="wscenter-hooks-"), "hooks.log")
    env = worker_env(redis_url, prefix, receiver.url)
    first = start_worker(env, log_path)
    second = None
    try:
        event_id = queue_event(redis_url, f"{prefix}hooks:pusher:{APP1['id']}", "channel_occupied", "presence-kill", {})
        poll(lambda: len(receiver.requests) == 1, timeout=20, what="the first worker sent the event")
        first.kill()
        first.wait(5)
        second = start_worker(env, log_path)

        def redelivered():
            if second.poll() is not None:
                raise AssertionError(f"the second worker exited: {open(log_path).read()}")
            return any(e["event_id"] == event_id for _, body in receiver.requests[1:] for e in json.loads(body)["events"])

        poll(redelivered, timeout=30, what="the second worker delivered the killed worker's event")
    finally:
        for worker in (first, second):
            if worker and worker.poll() is None:
                worker.kill()
                worker.wait(5)
        receiver.close()


def test_hooks_worker_requests_pass_the_official_sdk():
    redis_url = os.environ["REDIS_URL"]
    prefix = f"interop-hooks-{secrets.token_hex(4)}:"
    receiver = Receiver(statuses=[500])  # the first attempt fails: the retry carries the same event_id
    workdir = tempfile.mkdtemp(prefix="wscenter-hooks-")
    env = worker_env(redis_url, prefix, receiver.url)
    log_path = os.path.join(workdir, "hooks.log")
    worker = start_worker(env, log_path)
    try:
        key = f"{prefix}hooks:pusher:{APP1['id']}"
        occupied = queue_event(redis_url, key, "channel_occupied", "presence-lobby", {})
        added = queue_event(redis_url, key, "member_added", "presence-lobby", {"user_id": "ann"})

        def delivered():
            if worker.poll() is not None:
                raise AssertionError(f"wscenter hooks exited: {open(log_path).read()}")
            events = [e["event_id"] for _, body in receiver.requests[1:] for e in json.loads(body)["events"]]
            return occupied in events and added in events

        poll(delivered, timeout=20, what="both events delivered after one failed attempt")
        client = pusher.Pusher(app_id=APP1["id"], key=APP1["key"], secret=APP1["secret"])
        for headers, body in receiver.requests:
            assert headers["content-type"] == "application/json"
            validated = client.validate_webhook(headers["x-pusher-key"], headers["x-pusher-signature"], body.decode())
            assert validated is not None, f"the SDK refused {headers} {body!r}"
            assert [e["name"] for e in validated["events"]][:1] == ["channel_occupied"]
        # A forged body is refused by the same SDK call.
        headers, body = receiver.requests[-1]
        assert client.validate_webhook(headers["x-pusher-key"], headers["x-pusher-signature"], body.decode() + " ") is None
        first_ids = [e["event_id"] for e in json.loads(receiver.requests[0][1])["events"]]
        assert occupied in first_ids, "the failed attempt carried the same event"
        # The worker's own operations port: alive, ready, and its counters.
        base = f"http://127.0.0.1:{env['HTTP_PORT']}"
        assert http_get(base + "/healthz")[0] == 200
        assert http_get(base + "/readyz")[0] == 200
        metrics = http_get(base + "/metrics")[1].decode()
        delivered = [line for line in metrics.splitlines() if line.startswith("wscenter_webhook_events_delivered_total")]
        assert delivered and float(delivered[0].split()[-1]) == 2, metrics
        failed = [line for line in metrics.splitlines() if line.startswith("wscenter_webhook_requests_failed_total")]
        assert failed and float(failed[0].split()[-1]) == 1, metrics
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
        receiver.close()
    assert worker.returncode == 0, open(log_path).read()
