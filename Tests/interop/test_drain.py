"""A node drained by SIGTERM behind a load balancer, with real clients.

The realistic topology: clients reach the nodes through a load balancer that only sends new
connections to nodes whose `/readyz` answers 200 (as a Kubernetes Service drops unready pods).
On SIGTERM a node answers `/readyz` with 503, refuses new upgrades with 503, tells every Pusher
client `pusher:error` 4200 ("reconnect at once") and closes every WebSocket with 1012; it hands
its native sessions to another node, leaves `master_ids` and exits 0.

Each test starts its own fleet (2 nodes + 1 gateway, its own REDIS_PREFIX on the suite's Redis,
NODE_HEARTBEAT_TTL=30 so that only the node's orderly leave can remove it from `master_ids`
quickly) and its own load balancer; the suite's session fleet (conftest.py) is not used.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import selectors
import signal
import socket
import threading
import time
import urllib.request
from typing import Callable, Optional

import pytest
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from interop_support import (
    APP1,
    Fleet,
    PysherClient,
    RawClient,
    Service,
    decode_data,
    free_port,
    http_get,
    poll,
    unique,
    wscenter_binary,
)

SHUTDOWN_TIMEOUT = 10.0  # the default, set explicitly: a drained node must exit within it
RESTART_ERROR = {"message": "Server is restarting: reconnect", "code": 4200}


# --------------------------------------------------------------------------- the fleet

class DrainFleet(Fleet):
    """2 nodes + 1 gateway on their own REDIS_PREFIX, with a 30 s heartbeat TTL."""

    def __init__(self, binary: str, redis_url: str):
        super().__init__(binary, redis_url)
        self.prefix = f"drain-{secrets.token_hex(4)}:"

    def _env(self, **extra: str) -> dict:
        return super()._env(NODE_HEARTBEAT_INTERVAL="0.5", NODE_HEARTBEAT_TTL="30",
                            SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT), **extra)

    def start(self) -> None:
        super().start(nodes=2, gateways=1, tag="drain")

    def node_id(self, index: int) -> str:
        return self.nodes[index].env["NODE_ID"]

    # --- the event API of the gateway (no TOKEN: open)

    def api(self, event: str, **params) -> dict:
        body = json.dumps({event: params}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.gateways[0].http_port}/?event={event}",
                                         data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["code"] == 0, answer
        return answer

    def master_ids(self) -> set:
        return set(self.api("getConnectionCount")["master_ids"])

    # --- draining a node

    def sigterm(self, index: int) -> float:
        self.nodes[index].proc.send_signal(signal.SIGTERM)
        return time.monotonic()

    def wait_exit(self, index: int, timeout: float = SHUTDOWN_TIMEOUT + 5) -> int:
        proc = self.nodes[index].proc
        poll(lambda: proc.poll() is not None, timeout=timeout, what=f"node{index} to exit after SIGTERM")
        return proc.returncode

    def wait_only_survivor(self, survivor: int, timeout: float = 5.0) -> None:
        """The gateway lists only the survivor, well before the 30 s heartbeat TTL."""
        expected = {self.node_id(survivor)}
        poll(lambda: self.master_ids() == expected, timeout=timeout,
             what=f"master_ids == {sorted(expected)} (orderly leave; the TTL is 30 s)")


@pytest.fixture
def drain_fleet():
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.fail("REDIS_URL is not set; run through scripts/with-redis.sh scripts/interop.sh")
    binary = wscenter_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"wscenter binary not found at {binary}; set WSCENTER_BIN")
    fleet = DrainFleet(binary, redis_url)
    try:
        fleet.start()
        yield fleet
    finally:
        print(fleet.tails(40))  # pytest shows it only when the test fails
        fleet.stop()


@pytest.fixture
def closing(drain_fleet):
    """A list of callables run (in reverse) when the test ends, before the fleet stops."""
    closers: list[Callable[[], None]] = []
    yield closers
    for close in reversed(closers):
        try:
            close()
        except Exception:  # noqa: BLE001 - best effort
            pass


# --------------------------------------------------------------------------- the load balancer

class LoadBalancer:
    """A TCP load balancer: each new connection goes to the first backend, in round-robin
    order, whose `/readyz` answers 200 and that accepts a TCP connect; the bytes are then
    copied both ways (half-closes passed on). No ready backend: the connection is closed."""

    def __init__(self, backend_ports: list[int]):
        self.backends = list(backend_ports)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)  # so that the accept loop sees close()
        self.port = self.listener.getsockname()[1]
        self.routes: dict[int, int] = {}  # client's port -> backend index
        self.log: list[tuple[int, Optional[int]]] = []  # (client's port, backend index or None), in order
        self._next = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._start(self._accept, "lb-accept")

    def _start(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    @staticmethod
    def _ready(port: int) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/readyz")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def _pick(self) -> tuple[Optional[int], Optional[socket.socket]]:
        with self._lock:
            first = self._next
            self._next = (first + 1) % len(self.backends)
        for step in range(len(self.backends)):
            index = (first + step) % len(self.backends)
            if not self._ready(self.backends[index]):
                continue
            try:
                return index, socket.create_connection(("127.0.0.1", self.backends[index]), timeout=1)
            except OSError:
                continue
        return None, None

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, address = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._start(self._serve, f"lb-{address[1]}", client, address[1])

    def _serve(self, client: socket.socket, client_port: int) -> None:
        index, upstream = self._pick()
        with self._lock:
            self.log.append((client_port, index))
            if index is not None:
                self.routes[client_port] = index
        if upstream is None or self._stopping.is_set():
            client.close()
            if upstream is not None:
                upstream.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.update((client, upstream))
        peer = {client: upstream, upstream: client}
        reading = {client, upstream}
        selector = selectors.DefaultSelector()
        for sock in reading:
            selector.register(sock, selectors.EVENT_READ)
        try:
            while reading and not self._stopping.is_set():
                for key, _ in selector.select(timeout=0.2):
                    sock = key.fileobj
                    data = sock.recv(65536)
                    if data:
                        peer[sock].sendall(data)
                    else:  # EOF: pass the half-close on
                        selector.unregister(sock)
                        reading.discard(sock)
                        try:
                            peer[sock].shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
        except OSError:
            pass  # a reset on either side ends both
        finally:
            selector.close()
            for sock in (client, upstream):
                sock.close()
            with self._lock:
                self._sockets.difference_update((client, upstream))

    def backend_of(self, local_port: int) -> Optional[int]:
        """The backend that the connection from the client's `local_port` was sent to."""
        with self._lock:
            return self.routes.get(local_port)

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(2)
        self.listener.close()


@pytest.fixture
def lb(drain_fleet):
    balancer = LoadBalancer([node.port for node in drain_fleet.nodes])
    yield balancer
    balancer.close()


# --------------------------------------------------------------------------- clients

class ReconnectingPysher(PysherClient):
    """pysher configured as an application that wants to survive a server restart:
    `auto_sub=True`, so that pysher subscribes its channels again by itself after it reconnects
    (without it, a reconnected pysher has no subscriptions). `reconnect_interval` stays at
    pysher's default of 10 s on purpose: on `pusher:error` 4200-4299 pysher calls
    `reconnect(0)` and reconnects at once, so a quick reconnect proves that the 4200 was acted
    on (a bare close, 1012 included, goes through `_on_error` and waits the 10 s). (pysher
    keeps that 0 for every later reconnect: after a 4200 it no longer waits between attempts.)
    Every frame and every close code pysher's socket saw are recorded."""

    def __init__(self, port: int, label: str = "pysher"):
        super().__init__(port, label=label, reconnect_interval=10, auto_sub=True)

    def local_port(self) -> int:
        """The client-side port of pysher's current TCP connection."""
        return self.pusher.connection.socket.sock.sock.getsockname()[1]


class NativeClient:
    """A native-protocol client on the `websockets` sync client."""

    def __init__(self, url: str):
        connected = websockets.sync.client.connect(url, open_timeout=5, close_timeout=2,
                                                   max_size=None, compression=None)
        self.ws = connected if hasattr(connected, "recv") else connected.__enter__()
        if hasattr(self.ws, "pending_legacy_warning"):
            self.ws.pending_legacy_warning = False  # used directly on purpose, closed in close()
        opened = self.recv_json()
        assert opened.get("cmd") == "open" and len(opened.get("_id", "")) == 32, opened
        self.id: str = opened["_id"]
        greeting = self.recv_json()
        assert greeting.get("type") == "reconnect_token" and len(greeting.get("token", "")) == 64, greeting
        self.token: str = greeting["token"]

    def local_port(self) -> int:
        return self.ws.socket.getsockname()[1]

    def recv(self, timeout: float = 5.0) -> str:
        return self.ws.recv(timeout=timeout)

    def recv_json(self, timeout: float = 5.0) -> dict:
        return json.loads(self.recv(timeout))

    def send_json(self, message: dict) -> None:
        self.ws.send(json.dumps(message))

    def wait_close(self, timeout: float = 5.0) -> tuple[Optional[int], Optional[str], list]:
        """Reads until the server closes; (close code, reason, messages read before)."""
        before = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"not closed within {timeout} s; read {before}")
                before.append(self.ws.recv(timeout=remaining))
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return (frame.code if frame else None, frame.reason if frame else None, before)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass


class StubbornClient:
    """Upgrades to a native WebSocket, then neither reads nor answers the close: it holds a
    drain open (the node cuts such a client off 5 s into the drain) until it is closed."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(_upgrade_request(port, "/"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, f"closed during the upgrade: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def read_until_eof(self, timeout: float = 5.0) -> bytes:
        """Everything the node sent after the upgrade, once it has closed the TCP connection."""
        self.sock.settimeout(timeout)
        data = b""
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        return data

    def close(self) -> None:
        self.sock.close()


def close_frame(code: int, reason: str) -> bytes:
    payload = code.to_bytes(2, "big") + reason.encode()
    return bytes([0x88, len(payload)]) + payload


def _upgrade_request(port: int, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


def upgrade_status(port: int, path: str = "/") -> int:
    """The status a node answers to a WebSocket upgrade request (101 when it accepts)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(_upgrade_request(port, path))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def readyz(port: int) -> int:
    status, _ = http_get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    return status


# --------------------------------------------------------------------------- tests

def test_pysher_reconnects_through_the_load_balancer_after_a_drain(drain_fleet, lb, closing):
    fleet = drain_fleet
    rest = fleet.rest(0)
    channel = unique("drain-news-")

    client = ReconnectingPysher(lb.port, label="pysher@lb")
    closing.append(client.close)
    errors: list = []  # pysher's own callback for connection-level pusher:error
    client.pusher.connection.bind("pusher:error", errors.append)
    headlines: list = []
    client.pusher.subscribe(channel).bind("headline", headlines.append)
    client.wait_for("pusher_internal:subscription_succeeded", channel)
    rest.trigger(channel, "headline", {"n": 1})
    poll(lambda: headlines, what="the first headline through pysher")
    assert [json.loads(h) for h in headlines] == [{"n": 1}]

    doomed = lb.backend_of(client.local_port())
    assert doomed is not None, lb.log
    survivor = 1 - doomed
    first_socket_id = client.socket_id

    # A raw Pusher client on the same node, alongside: the exact frames and their order.
    raw = RawClient(fleet.ws_url(doomed), label="raw@doomed")
    closing.append(raw.close)
    raw.established()
    raw.subscribe_ok(channel)

    mark = client.mark()
    raw_mark = raw.mark()
    sigterm_at = fleet.sigterm(doomed)

    # pysher is told 4200 (seen through its pusher:error callback), then closed with 1012
    error_frame = client.wait_for("pusher:error", start=mark)
    assert error_frame.get("data") == RESTART_ERROR, error_frame
    poll(lambda: errors, what="pysher's pusher:error callback")
    assert errors == [RESTART_ERROR], errors
    assert client.wait_closed() == 1012, client.close_codes
    assert client.close_reason == "service restart", client.close_reason

    # It reconnects through the load balancer at once (reconnect(0) on 4200; its
    # reconnect_interval is 10 s), lands on the survivor, and subscribes again by itself.
    established = client.wait_for("pusher:connection_established", start=mark, timeout=8)
    reconnect_delay = time.monotonic() - sigterm_at
    assert reconnect_delay < 8, f"pysher reconnected after {reconnect_delay:.1f} s: not the immediate 4200 path"
    new_socket_id = decode_data(established)["socket_id"]
    assert new_socket_id != first_socket_id
    poll(lambda: client.pusher.connection.socket_id == new_socket_id, what="pysher's new socket_id")
    assert lb.backend_of(client.local_port()) == survivor, lb.log
    client.wait_for("pusher_internal:subscription_succeeded", channel, start=mark)
    assert client.pusher.connection.state == "connected"

    rest.trigger(channel, "headline", {"n": 2})
    poll(lambda: len(headlines) >= 2, what="the headline triggered after the drain")
    client.assert_count_stays(2, "headline", channel, during=0.3)
    assert [json.loads(h) for h in headlines] == [{"n": 1}, {"n": 2}]
    assert client.close_codes == [1012], client.close_codes  # one close: the drain's

    # the raw client: exactly the 4200 error, then the close 1012 "service restart"
    assert raw.wait_closed() == 1012, raw.history[raw_mark:]
    assert raw.close_reason == "service restart", raw.close_reason
    assert raw.history[raw_mark:] == [{"event": "pusher:error", "data": RESTART_ERROR}], raw.history[raw_mark:]

    assert fleet.wait_exit(doomed) == 0, fleet.nodes[doomed].tail()
    fleet.wait_only_survivor(survivor)


def test_native_session_resumes_on_the_survivor_after_a_drain(drain_fleet, lb, closing):
    fleet = drain_fleet
    url = f"ws://127.0.0.1:{lb.port}/"
    user = unique("drain-user-")

    client = NativeClient(url)
    closing.append(client.close)
    doomed = lb.backend_of(client.local_port())
    assert doomed is not None, lb.log
    survivor = 1 - doomed
    bound = fleet.api("bindId", id=user, _id=client.id)["data"]["bindId"]
    assert bound == {fleet.node_id(doomed): 1, fleet.node_id(survivor): 0}, bound
    # holds the drain open, so that the first message below surely reaches the draining node
    stubborn = StubbornClient(fleet.nodes[doomed].port)
    closing.append(stubborn.close)

    fleet.sigterm(doomed)
    code, reason, before = client.wait_close()
    assert (code, reason, before) == (1012, "service restart", []), (code, reason, before)

    # While the client is away: one message while its node drains (the draining node records
    # it, then hands the session over), one once the node has exited (the adopter records it).
    # A recorded message does not count in the answer.
    answer = fleet.api("sendMessageToId", id=user, msg="away-1")
    assert fleet.nodes[doomed].alive(), "the drain ended before the stubborn client was released"
    assert set(answer["master_ids"]) == {fleet.node_id(doomed), fleet.node_id(survivor)}, answer
    assert answer["data"]["sendMessageToId"] == {fleet.node_id(doomed): 0, fleet.node_id(survivor): 0}, answer
    stubborn.close()
    assert fleet.wait_exit(doomed) == 0, fleet.nodes[doomed].tail()
    answer = fleet.api("sendMessageToId", id=user, msg='away-2 {"json": true}')
    assert answer["data"]["sendMessageToId"] == {fleet.node_id(survivor): 0}, answer

    # The client reconnects through the load balancer (to the survivor) and resumes.
    again = NativeClient(url)
    closing.append(again.close)
    assert lb.backend_of(again.local_port()) == survivor, lb.log
    again.send_json({"type": "reconnect", "token": client.token})
    reply = again.recv_json()
    assert reply == {"type": "reconnected", "previous_id": client.id, "_id": again.id, "missed": 2}, reply
    assert again.recv() == "away-1"
    assert again.recv() == 'away-2 {"json": true}'

    answer = fleet.api("sendMessageToId", id=user, msg="welcome back")
    assert answer["data"]["sendMessageToId"] == {fleet.node_id(survivor): 1}, answer
    assert again.recv() == "welcome back"
    fleet.wait_only_survivor(survivor)


def test_drained_node_refuses_new_work_leaves_master_ids_and_exits_0(drain_fleet, lb, closing):
    fleet = drain_fleet
    doomed, survivor = 0, 1
    port = fleet.nodes[doomed].port
    assert fleet.master_ids() == {fleet.node_id(0), fleet.node_id(1)}
    assert readyz(port) == 200 and upgrade_status(port) == 101

    # A client that never answers the close keeps the drain going until the node cuts it off;
    # meanwhile the drain can be looked at.
    stubborn = StubbornClient(port)
    closing.append(stubborn.close)
    native = NativeClient(f"ws://127.0.0.1:{port}/")
    closing.append(native.close)
    pusher_client = RawClient(fleet.ws_url(doomed), label="raw@doomed")
    closing.append(pusher_client.close)
    pusher_client.established()
    pusher_mark = pusher_client.mark()

    sigterm_at = fleet.sigterm(doomed)
    assert native.wait_close()[:2] == (1012, "service restart")
    assert pusher_client.wait_closed() == 1012
    assert pusher_client.history[pusher_mark:] == [{"event": "pusher:error", "data": RESTART_ERROR}]

    # While it drains: not ready, upgrades refused with 503, still in the fleet; the load
    # balancer sends new clients to the survivor.
    status, body = http_get(f"http://127.0.0.1:{port}/readyz")
    assert status == 503 and "draining" in body.decode(), (status, body)
    assert upgrade_status(port) == 503
    assert upgrade_status(port, "/app/app-key?protocol=7") == 503
    assert readyz(fleet.nodes[survivor].port) == 200
    newcomer = NativeClient(f"ws://127.0.0.1:{lb.port}/")
    closing.append(newcomer.close)
    assert lb.backend_of(newcomer.local_port()) == survivor, lb.log
    assert fleet.master_ids() == {fleet.node_id(0), fleet.node_id(1)}
    assert fleet.nodes[doomed].alive(), "the drain ended before the stubborn client was cut off"

    # The stubborn client got the close too, and is cut off; the node exits 0 in time.
    received = stubborn.read_until_eof(timeout=SHUTDOWN_TIMEOUT)
    assert received.endswith(close_frame(1012, "service restart")), received
    status = fleet.wait_exit(doomed)
    took = time.monotonic() - sigterm_at
    assert status == 0, fleet.nodes[doomed].tail()
    assert took < SHUTDOWN_TIMEOUT, f"exited {took:.1f} s after SIGTERM (SHUTDOWN_TIMEOUT {SHUTDOWN_TIMEOUT} s)"
    fleet.wait_only_survivor(survivor)
    assert fleet.api("getConnectionCount")["data"]["getConnectionCount"] == {fleet.node_id(survivor): 1}
