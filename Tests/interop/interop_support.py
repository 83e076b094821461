"""Helpers of the interop suite: the fleet of real `wscenter` processes, a raw Pusher
protocol client (websockets) and a recording wrapper around pysher.

Everything waits with deadlines (`wait_for`), never with long fixed sleeps.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

import websockets.sync.client
from websockets.exceptions import ConnectionClosed

DEFAULT_WAIT = 5.0

SOCKET_ID_RE = re.compile(r"^\d+\.\d+$")

# --------------------------------------------------------------------------- apps

APP1 = {"id": "1", "key": "app-key", "secret": "interop-secret-1"}  # node and gateway refuse the published app-secret
APP2 = {"id": "2", "key": "key-two", "secret": "secret-two"}
APP3 = {"id": "3", "key": "key-three", "secret": "s3"}
APP4 = {"id": "4", "key": "key-four", "secret": "s4"}

APPS_FILE_CONTENTS = [
    {"id": "2", "key": "key-two", "secret": "secret-two",
     "max_presence_members": 3, "enable_client_messages": True},
    {"id": "3", "key": "key-three", "secret": "s3", "enabled": False},
    {"id": "4", "key": "key-four", "secret": "s4", "max_connections": 2},
]


def unique(prefix: str = "") -> str:
    """A name no other test uses (channel names, user ids)."""
    return f"{prefix}{secrets.token_hex(5)}"


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def channel_auth(app: dict, socket_id: str, channel: str, channel_data: Optional[str] = None) -> str:
    subject = f"{socket_id}:{channel}" if channel_data is None else f"{socket_id}:{channel}:{channel_data}"
    return f"{app['key']}:{sign(app['secret'], subject)}"


def signin_auth(app: dict, socket_id: str, user_data: str) -> str:
    return f"{app['key']}:{sign(app['secret'], f'{socket_id}::user::{user_data}')}"


def decode_data(message: dict) -> Any:
    """The `data` of a frame, JSON-decoded when it is a JSON string."""
    data = message.get("data")
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def poll(check: Callable[[], Any], timeout: float = DEFAULT_WAIT, interval: float = 0.05, what: str = "condition"):
    """Calls `check` until it returns a truthy value (returned) or `timeout` passes.

    Exceptions of `check` count as "not yet"; the last one is reported on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    last_value: Any = None
    while True:
        try:
            last_value = check()
            if last_value:
                return last_value
            last_error = None
        except Exception as error:  # noqa: BLE001 - reported below
            last_error = error
        if time.monotonic() >= deadline:
            detail = f"last error: {last_error!r}" if last_error else f"last value: {last_value!r}"
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; {detail}")
        time.sleep(interval)


# --------------------------------------------------------------------------- recording clients

class Recorder:
    """Keeps every frame a client received, in order, and lets tests wait for one."""

    def __init__(self, label: str):
        self.label = label
        self.history: list[dict] = []
        self._cond = threading.Condition()
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self.closed = threading.Event()

    def _record(self, message: dict) -> None:
        with self._cond:
            self.history.append(message)
            self._cond.notify_all()

    def _record_close(self, code: Optional[int], reason: Optional[str]) -> None:
        with self._cond:
            self.close_code = code
            self.close_reason = reason
            self.closed.set()
            self._cond.notify_all()

    @staticmethod
    def _matches(message: dict, event: Optional[str], channel: Any, where: Optional[Callable[[dict], bool]]) -> bool:
        if event is not None and message.get("event") != event:
            return False
        if channel is not None and message.get("channel") != channel:
            return False
        if where is not None:
            try:
                return bool(where(message))
            except Exception:  # noqa: BLE001 - a frame the predicate cannot read does not match
                return False
        return True

    def find(self, event: Optional[str] = None, channel: Any = None, where=None, start: int = 0) -> list[dict]:
        with self._cond:
            return [m for m in self.history[start:] if self._matches(m, event, channel, where)]

    def wait_for(self, event: Optional[str] = None, channel: Any = None, where=None,
                 timeout: float = DEFAULT_WAIT, start: int = 0) -> dict:
        """The first frame (from index `start`) matching; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.history[start:]:
                    if self._matches(message, event, channel, where):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.1))
            seen = "\n    ".join(json.dumps(m)[:400] for m in self.history[-15:])
        raise AssertionError(
            f"[{self.label}] no frame event={event!r} channel={channel!r} within {timeout} s"
            f" (close code {self.close_code}); last frames:\n    {seen or '(none)'}")

    def wait_count(self, count: int, event: Optional[str] = None, channel: Any = None, where=None,
                   timeout: float = DEFAULT_WAIT) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.history if self._matches(m, event, channel, where)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.1))
        raise AssertionError(f"[{self.label}] expected {count} frames event={event!r} channel={channel!r},"
                             f" got {len(found)} within {timeout} s: {found}")

    def assert_none(self, event: Optional[str] = None, channel: Any = None, where=None,
                    during: float = 1.0, start: int = 0) -> None:
        """No matching frame arrives (checked for `during` seconds)."""
        deadline = time.monotonic() + during
        with self._cond:
            while True:
                found = [m for m in self.history[start:] if self._matches(m, event, channel, where)]
                assert not found, f"[{self.label}] unexpected frame(s): {found}"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, 0.1))

    def assert_count_stays(self, count: int, event: Optional[str] = None, channel: Any = None, where=None,
                           during: float = 0.5) -> None:
        """Exactly `count` matching frames, and no more arrive during `during` seconds."""
        deadline = time.monotonic() + during
        with self._cond:
            while True:
                found = [m for m in self.history if self._matches(m, event, channel, where)]
                assert len(found) == count, f"[{self.label}] expected exactly {count} frames event={event!r}, got {found}"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, 0.1))

    def wait_closed(self, timeout: float = DEFAULT_WAIT) -> Optional[int]:
        assert self.closed.wait(timeout), f"[{self.label}] connection not closed within {timeout} s; frames: {self.history[-10:]}"
        return self.close_code

    def mark(self) -> int:
        """Index to pass as `start` to only look at frames received from now on."""
        with self._cond:
            return len(self.history)


class RawClient(Recorder):
    """A Pusher protocol client on the `websockets` library: raw JSON frames, exact close codes.

    A background thread reads every frame into `history`."""

    def __init__(self, url: str, label: str = "raw"):
        super().__init__(label)
        self.url = url
        self.socket_id: Optional[str] = None
        connected = websockets.sync.client.connect(url, open_timeout=DEFAULT_WAIT, close_timeout=2,
                                                   max_size=None, compression=None)
        # Older websockets return the connection; newer ones may return a context manager.
        self.ws = connected if hasattr(connected, "recv") else connected.__enter__()
        if hasattr(self.ws, "pending_legacy_warning"):
            self.ws.pending_legacy_warning = False  # used directly on purpose, closed in close()
        self._reader = threading.Thread(target=self._read, name=f"reader-{label}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                text = self.ws.recv()
                try:
                    message = json.loads(text)
                except ValueError:
                    message = {"event": None, "raw": text}
                if not isinstance(message, dict):
                    message = {"event": None, "raw": text}
                self._record(message)
        except ConnectionClosed as closed:
            frame = closed.rcvd
            self._record_close(frame.code if frame else None, frame.reason if frame else None)
        except Exception as error:  # noqa: BLE001
            self._record_close(None, f"reader error: {error!r}")

    # --- sending

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def send_burst(self, texts: list[str]) -> None:
        """Sends text frames in one write to the socket, so that the server reads them
        together: a test of a rate limit must not depend on how fast this process writes."""
        with self.ws.protocol_mutex:
            for text in texts:
                self.ws.protocol.send_text(text.encode())
            self.ws.socket.sendall(b"".join(self.ws.protocol.data_to_send()))

    def send(self, event: str, data: Any = None, channel: Optional[str] = None) -> None:
        frame: dict = {"event": event, "data": {} if data is None else data}
        if channel is not None:
            frame["channel"] = channel
        self.ws.send(json.dumps(frame))

    def established(self, timeout: float = DEFAULT_WAIT) -> dict:
        message = self.wait_for("pusher:connection_established", timeout=timeout)
        self.socket_id = decode_data(message)["socket_id"]
        return message

    def ping(self, timeout: float = DEFAULT_WAIT) -> dict:
        start = self.mark()
        self.send("pusher:ping", {})
        return self.wait_for("pusher:pong", start=start, timeout=timeout)

    def subscribe(self, channel: str, auth: Optional[str] = None, channel_data: Optional[str] = None) -> int:
        data: dict = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        if channel_data is not None:
            data["channel_data"] = channel_data
        start = self.mark()
        self.send("pusher:subscribe", data)
        return start

    def subscribe_ok(self, channel: str, app: dict = APP1, user: Optional[dict] = None,
                     timeout: float = DEFAULT_WAIT) -> dict:
        """Subscribes (signing private and presence channels) and waits for success."""
        auth = channel_data = None
        if channel.startswith("presence-"):
            channel_data = json.dumps(user)
            auth = channel_auth(app, self.socket_id, channel, channel_data)
        elif channel.startswith("private-"):
            auth = channel_auth(app, self.socket_id, channel)
        start = self.subscribe(channel, auth, channel_data)
        return self.wait_for(
            None, channel, start=start, timeout=timeout,
            where=lambda m: m["event"] in ("pusher_internal:subscription_succeeded", "pusher:subscription_error"))

    def signin(self, user: dict, app: dict = APP1, auth: Optional[str] = None) -> int:
        user_data = json.dumps(user)
        start = self.mark()
        self.send("pusher:signin", {"auth": auth or signin_auth(app, self.socket_id, user_data),
                                    "user_data": user_data})
        return start

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        self._reader.join(3)


class PysherClient(Recorder):
    """pysher (a real third-party Pusher client, protocol 6), with every frame recorded."""

    def __init__(self, port: int, app: dict = APP1, user_data: Optional[dict] = None, label: str = "pysher",
                 reconnect_interval: int = 30, auto_sub: bool = False):
        import logging

        import pysher

        super().__init__(label)
        self.close_codes: list[Optional[int]] = []
        self.pusher = pysher.Pusher(key=app["key"], custom_host="127.0.0.1", port=port, secure=False,
                                    secret=app["secret"], user_data=user_data, log_level=logging.WARNING,
                                    reconnect_interval=reconnect_interval, auto_sub=auto_sub)
        connection = self.pusher.connection
        original_on_message = connection._on_message
        original_on_close = connection._on_close

        def on_message(*args):
            try:
                self._record(json.loads(args[-1]))
            except ValueError:
                self._record({"event": None, "raw": args[-1]})
            original_on_message(*args)

        def on_close(*args):
            # websocket-client calls on_close(app, status code, reason)
            code = args[1] if len(args) > 1 and isinstance(args[1], int) else None
            with self._cond:
                self.close_codes.append(code)
            self._record_close(code, args[2] if len(args) > 2 else None)
            original_on_close(*args)

        # WebSocketApp is built in the connection thread from these attributes.
        connection._on_message = on_message
        connection._on_close = on_close
        self.pusher.connect()
        self.wait_for("pusher:connection_established")
        poll(lambda: connection.socket_id, what=f"{label} socket_id")
        self.socket_id: str = connection.socket_id

    def subscribe(self, channel: str):
        return self.pusher.subscribe(channel)

    def subscribe_ok(self, channel: str, timeout: float = DEFAULT_WAIT) -> dict:
        start = self.mark()
        self.pusher.subscribe(channel)
        return self.wait_for(
            None, channel, start=start, timeout=timeout,
            where=lambda m: m["event"] in ("pusher_internal:subscription_succeeded", "pusher:subscription_error"))

    def close(self) -> None:
        """pysher's own disconnect() may block (its thread can miss the close); this one is bounded."""
        connection = self.pusher.connection
        connection.needs_reconnect = False
        connection.disconnect_called = True
        app = connection.socket
        websocket = getattr(app, "sock", None)
        os_socket = getattr(websocket, "sock", None)
        if app is not None:
            app.keep_running = False
        # Send the close frame only: pysher's thread reads the server's reply and ends.
        try:
            if websocket is not None and websocket.connected:
                websocket.send_close()
        except Exception:  # noqa: BLE001
            pass
        connection.join(1.0)
        if connection.is_alive() and os_socket is not None:
            try:
                os_socket.shutdown(socket.SHUT_RDWR)  # wakes the thread's select()
            except OSError:
                pass
            connection.join(1.0)


# --------------------------------------------------------------------------- fleet

def wscenter_binary() -> str:
    """$WSCENTER_BIN, else the debug build."""
    binary = os.environ.get("WSCENTER_BIN")
    if not binary:
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        binary = os.path.join(root, ".build", "debug", "wscenter")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Child side of Popen: get SIGKILL when the test runner dies, whatever the reason."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort (non-Linux)
        pass


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Service:
    """One `wscenter` child process."""

    def __init__(self, fleet: "Fleet", role: str, name: str, env: dict, health_port: int):
        self.fleet = fleet
        self.role = role
        self.name = name
        self.env = env
        self.health_port = health_port
        self.log_path = os.path.join(fleet.dir, f"{name}.log")
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        log.write(f"===== start {self.name} at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen([self.fleet.binary, self.role], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, preexec_fn=_die_with_parent)
        log.close()

    def wait_healthy(self, timeout: float = 20.0) -> None:
        url = f"http://127.0.0.1:{self.health_port}/healthz"

        def healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            status, _ = http_get(url, timeout=1)
            return status == 200

        deadline = time.monotonic() + timeout
        while True:
            try:
                if healthy():
                    return
            except RuntimeError:
                raise
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer {url} within {timeout} s:\n{self.tail()}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                content = f.read().decode(errors="replace").splitlines()
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(content[-lines:])


def suite_cluster_nodes() -> Optional[str]:
    """REDIS_CLUSTER_NODES when this run is on the Redis Cluster (INTEROP_BROKER=cluster)."""
    if os.environ.get("INTEROP_BROKER") != "cluster":
        return None
    nodes = os.environ.get("REDIS_CLUSTER_NODES")
    if not nodes:
        raise RuntimeError("INTEROP_BROKER=cluster needs REDIS_CLUSTER_NODES (WITH_CLUSTER=1 scripts/with-redis.sh)")
    return nodes


def broker_env(redis_url: str, cluster_nodes: Optional[str]) -> dict:
    """The variables that point wscenter at its broker: REDIS_CLUSTER_NODES or REDIS_URL."""
    return {"REDIS_CLUSTER_NODES": cluster_nodes} if cluster_nodes else {"REDIS_URL": redis_url}


def redis_cli(redis_url: str, cluster_nodes: Optional[str]) -> list[str]:
    """redis-cli for the suite's Redis, or for the cluster (-c: it follows MOVED)."""
    if not cluster_nodes:
        return ["redis-cli", "-u", redis_url]
    host, port = cluster_nodes.split(",")[0].rsplit(":", 1)
    return ["redis-cli", "-c", "-h", host, "-p", port]


class Fleet:
    """2 nodes + 2 gateways on one Redis (or on the cluster, when the run is on it), with a
    session-unique REDIS_PREFIX. `cluster_nodes`: the cluster to use; the default is the
    run's (``suite_cluster_nodes``); "" keeps the fleet on `redis_url` whatever the run."""

    def __init__(self, binary: str, redis_url: str, cluster_nodes: Optional[str] = None):
        self.dir = tempfile.mkdtemp(prefix="wscenter-interop-")
        # A private copy: the tree's binary may be rebuilt while the suite runs.
        self.binary = os.path.join(self.dir, "wscenter")
        shutil.copy2(binary, self.binary)
        self.redis_url = redis_url
        self.cluster_nodes = suite_cluster_nodes() if cluster_nodes is None else cluster_nodes
        self.prefix = f"interop-{secrets.token_hex(4)}:"
        self.apps_file = os.path.join(self.dir, "apps.json")
        with open(self.apps_file, "w") as f:
            json.dump(APPS_FILE_CONTENTS, f)
        self.nodes: list[Service] = []
        self.gateways: list[Service] = []

    def _env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("APP_", "TOKEN", "NODE_", "PORT", "HTTP_PORT", "HOST", "REDIS_"))}
        env.update(broker_env(self.redis_url, self.cluster_nodes))
        env.update({
            "REDIS_PREFIX": self.prefix,
            "HOST": "127.0.0.1",
            "APPS_FILE": self.apps_file,
            # the default app, with a secret of our own: node and gateway refuse the published one
            "APP_ID": APP1["id"],
            "APP_KEY": APP1["key"],
            "APP_SECRET": APP1["secret"],
            "NODE_HEARTBEAT_INTERVAL": "0.5",
            "NODE_HEARTBEAT_TTL": "1.5",
            "LOG_LEVEL": os.environ.get("INTEROP_LOG_LEVEL", "info"),
        })
        env.update(extra)
        return env

    def start(self, nodes: int = 2, gateways: int = 2, tag: str = "interop") -> None:
        session = secrets.token_hex(3)
        for i in range(nodes):
            port = free_port()
            node = Service(self, "node", f"node{i}", self._env(
                PORT=str(port), HTTP_PORT=str(free_port()), NODE_ID=f"{tag}-{session}-n{i}"), port)
            node.port = port
            self.nodes.append(node)
        for i in range(gateways):
            http_port = free_port()
            gateway = Service(self, "gateway", f"gateway{i}", self._env(
                PORT=str(free_port()), HTTP_PORT=str(http_port), NODE_ID=f"{tag}-{session}-g{i}"), http_port)
            gateway.http_port = http_port
            self.gateways.append(gateway)
        for service in self.nodes + self.gateways:
            service.start()
        for service in self.nodes + self.gateways:
            service.wait_healthy()
        self.wait_nodes_visible()

    def wait_nodes_visible(self, timeout: float = 10.0) -> None:
        """Every gateway lists exactly the running nodes in `master_ids` and answers the REST API."""
        expected = {node.env["NODE_ID"] for node in self.nodes if node.alive()}

        def master_ids(gateway: Service) -> set:
            status, body = http_get(f"http://127.0.0.1:{gateway.http_port}/?event=getConnectionCount")
            return set(json.loads(body).get("master_ids", [])) if status == 200 else set()

        for index, gateway in enumerate(self.gateways):
            poll(lambda g=gateway: master_ids(g) == expected, timeout=timeout,
                 what=f"gateway{index} master_ids == {sorted(expected)}")
            client = self.rest(index)
            poll(lambda c=client: "channels" in c.channels_info(), timeout=timeout, what=f"gateway{index} REST API")

    def restart_node(self, index: int) -> None:
        node = self.nodes[index]
        node.kill()
        node.start()
        node.wait_healthy()
        self.wait_nodes_visible()

    def rest(self, gateway: int = 0, app: dict = APP1, secret: Optional[str] = None):
        import pusher

        return pusher.Pusher(app_id=app["id"], key=app["key"], secret=secret or app["secret"],
                             host="127.0.0.1", port=self.gateways[gateway].http_port, ssl=False, timeout=10)

    def ws_url(self, node: int, key: str = APP1["key"], protocol: Optional[int] = 7) -> str:
        query = f"?protocol={protocol}" if protocol is not None else ""
        return f"ws://127.0.0.1:{self.nodes[node].port}/app/{key}{query}"

    def tails(self, lines: int = 30) -> str:
        parts = []
        for service in self.nodes + self.gateways:
            state = "running" if service.alive() else f"exited {service.proc.returncode if service.proc else '-'}"
            parts.append(f"----- {service.name} ({state}) stderr tail -----\n{service.tail(lines)}")
        return "\n".join(parts)

    def stop(self) -> None:
        for service in self.nodes + self.gateways:
            try:
                service.stop()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- session fleets

def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def unwind_on_sigterm() -> None:
    """SIGTERM (CI timeouts) unwinds like Ctrl-C, so a session fleet stops its children.
    (They also get SIGKILL if the test process dies some other way: PR_SET_PDEATHSIG.)"""
    signal.signal(signal.SIGTERM, _interrupt)


def session_fleet(make, runner: str, **start):
    """The generator of a session fixture: checks REDIS_URL and the binary, makes the fleet
    with make(binary, redis_url), starts it (its children's log tails on failure), yields it
    and stops it, also at exit. `runner` is the script to name when something is missing."""
    import pytest

    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.exit(f"REDIS_URL is not set; run through scripts/with-redis.sh {runner}", returncode=2)
    binary = wscenter_binary()
    if not os.access(binary, os.X_OK):
        pytest.exit(f"wscenter binary not found at {binary}; set WSCENTER_BIN", returncode=2)
    fleet = make(binary, redis_url)
    atexit.register(fleet.stop)
    try:
        fleet.start(**start)
    except Exception:
        sys.stderr.write(fleet.tails(60) + "\n")
        fleet.stop()
        raise
    try:
        yield fleet
    finally:
        fleet.stop()


# --------------------------------------------------------------------------- raw REST

def signed_request(port: int, method: str, path: str, app: dict, body: Optional[bytes] = None,
                   params: Optional[dict] = None, timestamp: Optional[int] = None,
                   secret: Optional[str] = None) -> tuple[int, bytes]:
    """A REST request signed as Pusher signs them, built by hand (for what the SDK refuses)."""
    body = body if body is not None else b""
    query = dict(params or {})
    query.update({
        "auth_key": app["key"],
        "auth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "auth_version": "1.0",
    })
    if method == "POST":
        query["body_md5"] = hashlib.md5(body).hexdigest()
    query_string = "&".join(f"{k}={v}" for k, v in sorted(query.items()))
    signature = sign(secret or app["secret"], f"{method}\n{path}\n{query_string}")
    url = f"http://127.0.0.1:{port}{path}?{query_string}&auth_signature={signature}"
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
