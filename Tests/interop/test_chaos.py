"""Chaos under load: a node SIGKILLed, a gateway SIGKILLed, Redis frozen (SIGSTOP) for 10 s,
and Redis stopped and started again empty, each while native clients are connected on both
nodes and a steady stream of `sendMessageTo_Id` calls goes through both gateways.

Each test has a fleet of its own (2 nodes + 2 gateways) on a redis-server of its own, on a
port fixed for the test (so that the fleet finds it again after a restart), started like
scripts/with-redis.sh starts one: no persistence, in a temporary directory. The suite's shared
Redis (REDIS_URL) is not used: it must not be frozen or killed under other tests.

Clients: 3 native clients per node (`websockets`), each bound to a user id. Calls: RATE per
second of `sendMessageTo_Id` with a unique message, alternating gateways, round the clients,
before, during and after the fault. Every test records, for every call, when it started and
ended, and the answer (HTTP status and JSON) or the transport error. What it asserts:

(a) **No request hangs.** Every answer comes within DEADLINE = CALL_TIMEOUT + the gateway's
    Redis timeout + SLACK (see below), and `/readyz` within its 1 s probe deadline + SLACK
    while Redis is out. The HTTP client waits CLIENT_TIMEOUT, far longer, so that a request
    that hangs is seen as one (and fails the test) instead of being cut short by the client.
(b) **Nothing acknowledged is lost, and no false "ok".** An answer *acknowledges* a delivery
    when it has `code` 0 and a node that is in `master_ids`, not in `extra`, answered 1
    ("the connection took it"). Every acknowledged message must reach its client (under the
    connection it has now, or in the replay of its resumed session), except, in the node
    test, those the killed node acknowledged in the last second before it died (they may
    have been in its outbound queue). Every other answer must be an explicit failure: HTTP
    5xx / `code` != 0, `extra` naming the node, or a refused connection to a killed gateway;
    or "nobody took it" (`code` 0, every result 0 or no live node at all), which is accepted
    only when the target connection is really gone (its client resumed elsewhere) or its
    node is not in that answer's `master_ids`. An answer whose parts contradict each other
    (results for nodes not in `master_ids`, two nodes taking one connection's message) fails.
(c) **Everything recovers by itself.** After the fault ends, within RECOVERY_BOUND and without
    restarting anything: every surviving process answers `/readyz` 200, every surviving
    gateway lists exactly the live nodes and acknowledges (and the clients receive) a probe
    message to every client; the killed node's clients have resumed their sessions on the
    survivor (same user id, `replay_truncated` `node_lost`, as docs/protocol.md says) while
    the other clients never lost their connection; after a Redis restart every user id is
    bound again where its client is; and then STEADY_CALLS calls in a row of the stream are
    all acknowledged.

The figures of each run (answers by kind, latencies, recovery times) are printed; run
`scripts/with-redis.sh scripts/interop.sh -k chaos -s` to see them.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

import pytest
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from interop_support import (Fleet, Service, _die_with_parent, free_port, http_get, poll, suite_cluster_nodes,
                              wscenter_binary)

# Each test freezes or kills a Redis of its own, the same in a run on the cluster: that run
# skips them (the run on one Redis has them; the cluster's failover is tested in Swift).
pytestmark = pytest.mark.skipif(bool(suite_cluster_nodes()), reason="chaos of one Redis: covered by the run on one Redis")

# --------------------------------------------------------------------------- the numbers

CALL_TIMEOUT = 2.0
# The deadline of a request (one call: a single sendMessageTo_Id) is what the gateway
# promises (docs/api.md): at most CALL_TIMEOUT waiting for the nodes' replies, plus what it
# gives Redis: a gateway's command connection times out after 1 s (checked every 250 ms),
# connecting included; plus SLACK for the scheduling of a debug build on a busy 2-core machine
# running 4 wscenter processes, redis-server and this test's threads (an ordinary request
# takes ~5-20 ms here, the slowest about 200 ms).
GATEWAY_REDIS_TIMEOUT = 1.0 + 0.25
SLACK = 0.5
DEADLINE = CALL_TIMEOUT + GATEWAY_REDIS_TIMEOUT + SLACK
# Far above the deadline: a request still unanswered after this is a hang, reported as one.
CLIENT_TIMEOUT = 20.0
HEARTBEAT_INTERVAL = 0.5
HEARTBEAT_TTL = 1.5
# Calls per second, alternating between the gateways and going round the clients.
RATE = 30
CLIENTS_PER_NODE = 3
# How long a fault may take to heal after it ends: Redis reconnection backs off up to 3 s and
# a frozen connection is given up after the Redis command timeout (5 s); then heartbeats,
# bindings and subscriptions are written again.
RECOVERY_BOUND = 15.0
# After recovery, the stream must be acknowledged in full for this many calls.
STEADY_CALLS = 40
# Acknowledgements by a node that was then killed, this close to its death, may be lost.
KILL_GRACE = 1.0
SIGSTOP_SECONDS = 10.0
# How long Redis stays down in the restart test.
REDIS_DOWN_SECONDS = 3.0


# --------------------------------------------------------------------------- Redis of our own

def _resp(port: int, *words: str, timeout: float = 1.0) -> bytes:
    """One command to Redis on a fresh connection; the raw reply."""
    command = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(command.encode())
        reply = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
            if reply.startswith((b"+", b"-", b":")) and reply.endswith(b"\r\n"):
                break
            if reply.startswith(b"$"):
                head, _, rest = reply.partition(b"\r\n")
                if len(rest) >= int(head[1:]) + 2:
                    break
        return reply


class ChaosRedis:
    """A redis-server of the test's own on a port that stays the same across restarts."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="wscenter-chaos-redis-")
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.stopped = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
                 "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent)
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:  # up, and it is ours (not a server that took the port meanwhile)
                    if f"process_id:{self.proc.pid}\r\n".encode() in _resp(self.port, "INFO", "server"):
                        self.stopped = False
                        return
                except OSError:
                    pass
                time.sleep(0.02)
            self._reap()
            if time.monotonic() >= deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{self.log_tail()}")
            time.sleep(0.1)  # the port was still held (a restart): try again, same port

    def sigstop(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def sigcont(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self.stopped:
                self.sigcont()
            self.proc.kill()
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(no log: {error})"

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- the fleet

class ChaosFleet(Fleet):
    """2 nodes + 2 gateways on the test's own Redis, with CALL_TIMEOUT and heartbeats set."""

    def __init__(self, binary: str, redis: ChaosRedis):
        # On the test's own Redis, also in a run on the cluster: that Redis is what fails.
        super().__init__(binary, redis.url, cluster_nodes="")
        self.prefix = f"chaos-{secrets.token_hex(4)}:"

    def _env(self, **extra: str) -> dict:
        return super()._env(CALL_TIMEOUT=str(CALL_TIMEOUT), NODE_HEARTBEAT_INTERVAL=str(HEARTBEAT_INTERVAL),
                            NODE_HEARTBEAT_TTL=str(HEARTBEAT_TTL), **extra)

    def node_id(self, index: int) -> str:
        return self.nodes[index].env["NODE_ID"]

    def survivors(self) -> list[Service]:
        return [service for service in self.nodes + self.gateways if service.alive()]


# --------------------------------------------------------------------------- clients

class ChaosClient:
    """A native client in a thread of its own: records every API message it receives, and
    when its connection ends, connects again (to its node, else the other, as a load balancer
    would) and resumes its session with its reconnect token."""

    def __init__(self, name: str, node_ports: list[int], home: int):
        self.name = name
        self.node_ports = node_ports
        self.node = home  # index of the node it is connected to
        self.received: dict[str, float] = {}  # API message -> when it arrived
        self.frames: list[tuple[float, dict]] = []  # every JSON frame, in order
        self.closes: list[tuple[float, Optional[int]]] = []
        self.resumes: list[tuple[float, int]] = []  # (when, node index) of each new connection
        self.lock = threading.Lock()
        self._stopping = threading.Event()
        self.ws, self.id, self.token = self._connect(home)
        self.previous_ids: list[str] = []
        self._thread = threading.Thread(target=self._run, name=f"client-{name}", daemon=True)
        self._thread.start()

    def _connect(self, node: int):
        connected = websockets.sync.client.connect(
            f"ws://127.0.0.1:{self.node_ports[node]}/", open_timeout=3, close_timeout=1,
            max_size=None, compression=None)
        ws = connected if hasattr(connected, "recv") else connected.__enter__()
        if hasattr(ws, "pending_legacy_warning"):
            ws.pending_legacy_warning = False
        opened = json.loads(ws.recv(timeout=3))
        assert opened.get("cmd") == "open", opened
        greeting = json.loads(ws.recv(timeout=3))
        assert greeting.get("type") == "reconnect_token", greeting
        return ws, opened["_id"], greeting["token"]

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while True:
                    self._on_message(self.ws.recv())
            except ConnectionClosed as closed:
                with self.lock:
                    self.closes.append((time.monotonic(), closed.rcvd.code if closed.rcvd else None))
            except Exception:  # noqa: BLE001 - a broken socket ends the connection too
                with self.lock:
                    self.closes.append((time.monotonic(), None))
            if self._stopping.is_set():
                return
            self._resume()

    def _resume(self) -> None:
        """Connects again, its own node first, and sends `reconnect` with the old token."""
        old_id, old_token = self.id, self.token
        give_up = time.monotonic() + RECOVERY_BOUND + 10
        order = [self.node] + [i for i in range(len(self.node_ports)) if i != self.node]
        while not self._stopping.is_set() and time.monotonic() < give_up:
            for node in order:
                try:
                    ws, new_id, new_token = self._connect(node)
                except Exception:  # noqa: BLE001 - refused (killed node): try the next one
                    continue
                if self._stopping.is_set():
                    ws.close()
                    return
                ws.send(json.dumps({"type": "reconnect", "token": old_token}))
                with self.lock:
                    self.previous_ids.append(old_id)
                    self.ws, self.id, self.token, self.node = ws, new_id, new_token, node
                    self.resumes.append((time.monotonic(), node))
                return
            time.sleep(0.1)

    def _on_message(self, text: str) -> None:
        now = time.monotonic()
        if text.startswith("chaos-"):
            with self.lock:
                self.received.setdefault(text, now)
            return
        try:
            frame = json.loads(text)
        except ValueError:
            frame = {"raw": text}
        with self.lock:
            self.frames.append((now, frame if isinstance(frame, dict) else {"raw": text}))

    def target(self) -> tuple[str, int]:
        """The current connection's `_id` and node, read together."""
        with self.lock:
            return self.id, self.node

    def got(self, message: str) -> bool:
        with self.lock:
            return message in self.received

    def frames_of(self, kind: str) -> list[dict]:
        with self.lock:
            return [frame for _, frame in self.frames if frame.get("type") == kind]

    def close(self) -> None:
        self._stopping.set()
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        self._thread.join(3)


# --------------------------------------------------------------------------- the call stream

@dataclass
class Call:
    seq: int
    message: str
    client: ChaosClient
    target_id: str
    gateway: int
    target_node: int = -1  # the node the client was connected to when the call was made
    started: float = 0.0
    ended: Optional[float] = None
    status: Optional[int] = None
    answer: Optional[dict] = None
    error: Optional[str] = None
    kind: str = "pending"
    acked_by: Optional[str] = None
    notes: list[str] = field(default_factory=list)

    @property
    def latency(self) -> Optional[float]:
        return None if self.ended is None else self.ended - self.started


def classify(call: Call) -> None:
    """Sorts an answer into: ack, timeout (extra names a node), not_sent (every node 0),
    error (HTTP != 200 or code != 0), transport (no HTTP answer), hang, or inconsistent."""
    if call.error is not None:
        call.kind = "hang" if call.error == "timeout" else "transport"
        return
    answer = call.answer
    if call.status != 200 or not isinstance(answer, dict) or answer.get("code") != 0:
        call.kind = "error"
        if call.status == 200:
            call.notes.append("HTTP 200 with a code other than 0")
        return
    masters = set(answer.get("master_ids", []))
    extra = set(answer.get("extra", []))
    results = answer.get("data", {}).get("sendMessageTo_Id", {})
    if set(results) != masters or not extra <= masters:
        call.kind = "inconsistent"
        call.notes.append(f"results for {sorted(results)}, master_ids {sorted(masters)}, extra {sorted(extra)}")
        return
    took = [node for node, value in results.items() if value == 1]
    if len(took) > 1 or any(value not in (0, 1) for node, value in results.items() if node not in extra):
        call.kind = "inconsistent"
        call.notes.append(f"results {results}")
        return
    if took and took[0] not in extra:
        call.kind = "ack"
        call.acked_by = took[0]
    elif extra:
        call.kind = "timeout"
    else:
        call.kind = "not_sent"


class Stream:
    """A steady stream of `sendMessageTo_Id` calls: RATE per second, alternating gateways,
    round the clients; each in a worker thread of its own, so that a slow answer does not
    delay the next call."""

    def __init__(self, fleet: ChaosFleet, clients: list[ChaosClient], tag: str):
        self.fleet = fleet
        self.clients = clients
        self.tag = tag
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=int(RATE * (CLIENT_TIMEOUT + 1)), thread_name_prefix="call")
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="stream", daemon=True)

    def start(self) -> None:
        self._ticker.start()

    def _tick(self) -> None:
        seq = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            client = self.clients[seq % len(self.clients)]
            gateway = (seq // len(self.clients) + seq) % len(self.fleet.gateways)
            target_id, target_node = client.target()
            call = Call(seq, f"chaos-{self.tag}-{seq}", client, target_id, gateway, target_node)
            with self.lock:
                self.calls.append(call)
            self._pool.submit(self.send, call)
            seq += 1
            next_at += 1 / RATE
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def send(self, call: Call) -> Call:
        port = self.fleet.gateways[call.gateway].http_port
        path = (f"/?event=sendMessageTo_Id&sendMessageTo_Id%5B_id%5D={call.target_id}"
                f"&sendMessageTo_Id%5Bmsg%5D={call.message}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        call.started = time.monotonic()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            call.ended = time.monotonic()
            call.status = response.status
            try:
                call.answer = json.loads(body)
            except ValueError:
                call.answer = {"unparsed": body[:200].decode(errors="replace")}
        except socket.timeout:
            call.ended = time.monotonic()
            call.error = "timeout"
        except OSError as error:
            call.ended = time.monotonic()
            call.error = f"{type(error).__name__}: {error}"
        except http.client.HTTPException as error:
            call.ended = time.monotonic()
            call.error = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        classify(call)
        return call

    def count(self) -> int:
        with self.lock:
            return len(self.calls)

    def wait_calls(self, count: int, after: Optional[int] = None, what: str = "calls") -> None:
        """Waits until the `count` calls made from index `after` on have all been answered and
        classified (not merely `count` of the later ones: a slow call among the first `count`
        would then still be pending when the caller looks at them, and `ended` is set before
        the answer is classified)."""
        start = self.count() if after is None else after

        def done() -> bool:
            with self.lock:
                first = self.calls[start:start + count]
            return len(first) == count and all(c.kind != "pending" for c in first)

        poll(done, timeout=count / RATE + CLIENT_TIMEOUT + 5, what=what)

    def stop(self) -> None:
        self._stop.set()
        self._ticker.join(5)
        self._pool.shutdown(wait=True)  # every call ends: answered, refused, or CLIENT_TIMEOUT

    def snapshot(self) -> list[Call]:
        with self.lock:
            return list(self.calls)


# --------------------------------------------------------------------------- the harness

def api(fleet: ChaosFleet, gateway: int, query: str, timeout: float = 5.0) -> tuple[int, dict]:
    status, body = http_get(f"http://127.0.0.1:{fleet.gateways[gateway].http_port}/?{query}", timeout=timeout)
    return status, json.loads(body)


def readyz(port: int) -> int:
    try:
        return http_get(f"http://127.0.0.1:{port}/readyz", timeout=1.0)[0]
    except OSError:
        return 0


class Chaos:
    """A test's fleet, clients and call stream, and the checks common to every fault."""

    def __init__(self, tag: str):
        binary = wscenter_binary()
        if not os.access(binary, os.X_OK):
            pytest.fail(f"wscenter binary not found at {binary}; set WSCENTER_BIN")
        self.tag = f"{tag}{secrets.token_hex(2)}"
        self.redis = ChaosRedis()
        self.redis.start()
        self.fleet = ChaosFleet(binary, self.redis)
        self.clients: list[ChaosClient] = []
        self.stream: Optional[Stream] = None
        self.figures: dict = {"fault": tag}
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}

    def start(self) -> None:
        self.fleet.start(nodes=2, gateways=2, tag="chaos")
        ports = [node.port for node in self.fleet.nodes]
        for node in range(2):
            for i in range(CLIENTS_PER_NODE):
                self.clients.append(ChaosClient(f"n{node}c{i}", ports, node))
        # Each client is bound to a user id, which its session keeps across a resume.
        for index, client in enumerate(self.clients):
            status, answer = api(self.fleet, index % 2,
                                 f"event=bindId&bindId%5Bid%5D={self.user(client)}&bindId%5B_id%5D={client.id}")
            assert status == 200 and answer["data"]["bindId"][self.fleet.node_id(client.node)] == 1, answer
        self.stream = Stream(self.fleet, self.clients, self.tag)
        self.stream.start()
        # Before any fault: the stream is acknowledged in full.
        mark = self.stream.count()
        self.stream.wait_calls(STEADY_CALLS, after=mark, what="the stream before the fault")
        before = self.stream.snapshot()[mark:mark + STEADY_CALLS]
        assert all(c.kind == "ack" for c in before), [(c.seq, c.kind, c.answer, c.error) for c in before if c.kind != "ack"]

    def user(self, client: ChaosClient) -> str:
        return f"user-{self.tag}-{client.name}"

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
        for client in self.clients:
            client.close()
        if self.redis.stopped:
            self.redis.sigcont()
        self.fleet.stop()
        self.redis.close()

    # --- recovery

    def wait_recovered(self, fault_end: float, live_nodes: list[int], live_gateways: list[int]) -> float:
        """Waits until the fleet works again without help; the time it took after `fault_end`."""
        deadline = fault_end + RECOVERY_BOUND
        expected = {self.fleet.node_id(i) for i in live_nodes}

        def remaining() -> float:
            return max(0.1, deadline - time.monotonic())

        for service in self.fleet.survivors():
            poll(lambda s=service: readyz(s.health_port) == 200, timeout=remaining(),
                 what=f"{service.name} /readyz 200 after the fault")
        for gateway in live_gateways:
            poll(lambda g=gateway: set(api(self.fleet, g, "event=getConnectionCount", timeout=3)[1]["master_ids"]) == expected,
                 timeout=remaining(), what=f"gateway{gateway} master_ids == {sorted(expected)}")
        for client in self.clients:
            poll(lambda c=client: c.node in live_nodes and c.ws.state.name == "OPEN", timeout=remaining(),
                 what=f"client {client.name} connected to a live node")
        # Probes: through every surviving gateway to every client, acknowledged and received.
        for gateway in live_gateways:
            for client in self.clients:
                message = f"chaos-{self.tag}-probe-{gateway}-{client.name}"

                def probe(g=gateway, c=client, m=message) -> bool:
                    call = Call(-1, f"{m}-{secrets.token_hex(3)}", c, c.id, g)
                    self.stream.send(call)
                    return call.kind == "ack" and poll(lambda: c.got(call.message), timeout=2,
                                                       what=f"probe {call.message} at {c.name}")

                poll(probe, timeout=remaining(), interval=0.2, what=f"a probe through gateway{gateway} to {client.name}")
        took = self.mark("recovered") - fault_end
        self.figures["recovered_after_s"] = round(took, 2)
        return took

    def assert_steady(self, dead_gateways: tuple[int, ...] = ()) -> None:
        """The next STEADY_CALLS calls of the stream (through live gateways) are all acknowledged."""
        mark = self.stream.count()
        share = 1 - len(dead_gateways) / len(self.fleet.gateways)
        self.stream.wait_calls(int(STEADY_CALLS / share) + 1, after=mark, what="the stream after recovery")
        after = [c for c in self.stream.snapshot()[mark:]
                 if c.kind != "pending" and c.gateway not in dead_gateways][:STEADY_CALLS]
        assert len(after) == STEADY_CALLS, len(after)
        bad = [(c.seq, c.gateway, c.kind, c.answer, c.error) for c in after if c.kind != "ack"]
        assert not bad, f"calls after recovery not acknowledged: {bad}"

    # --- the final checks

    def finish(self, exempt=lambda call: False, dead_gateways: tuple[int, ...] = ()) -> list[Call]:
        """Stops the stream, then checks (a) and (b) over every call; prints the figures."""
        self.stream.stop()
        calls = self.stream.snapshot()
        # (b) every acknowledged message arrives (the stream is over: wait for stragglers)
        acked = [c for c in calls if c.kind == "ack" and not exempt(c)]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(c.client.got(c.message) for c in acked):
            time.sleep(0.05)
        lost = [(c.seq, c.message, c.client.name, c.acked_by, round(c.ended - self.t0, 2)) for c in acked if not c.client.got(c.message)]
        self.report(calls)
        problems = []
        hangs = [(c.seq, c.gateway, round(c.started - self.t0, 2)) for c in calls if c.kind == "hang"]
        if hangs:
            problems.append(f"requests that hung (no answer within {CLIENT_TIMEOUT} s): {hangs}")
        slow = [(c.seq, c.gateway, c.kind, round(c.latency, 2)) for c in calls
                if c.latency is not None and c.latency > DEADLINE and c.kind != "hang"]
        if slow:
            problems.append(f"{len(slow)} answers later than the deadline ({DEADLINE} s): {slow}")
        inconsistent = [(c.seq, c.notes, c.answer) for c in calls if c.kind == "inconsistent"]
        if inconsistent:
            problems.append(f"answers that contradict themselves: {inconsistent}")
        if lost:
            problems.append(f"acknowledged messages that never arrived: {lost}")
        # "Nobody took it" (code 0, every result 0) is an honest answer only when the target
        # connection is gone (its client has resumed elsewhere since) or its node is not in
        # master_ids; otherwise the message should have been delivered.
        wrong = [(c.seq, c.client.name, c.answer) for c in calls if c.kind == "not_sent"
                 and c.target_id not in c.client.previous_ids
                 and self.fleet.node_id(c.target_node) in c.answer.get("master_ids", [])]
        if wrong:
            problems.append(f"answers that say nobody took a message for a live connection of a listed node: {wrong}")
        transport = [(c.seq, c.gateway, c.error) for c in calls if c.kind == "transport" and c.gateway not in dead_gateways]
        if transport:
            problems.append(f"transport errors from a live gateway: {transport}")
        assert not problems, "\n".join(problems)
        return calls

    def report(self, calls: list[Call]) -> None:
        kinds: dict[str, int] = {}
        for call in calls:
            kinds[call.kind] = kinds.get(call.kind, 0) + 1
        latencies = sorted(c.latency for c in calls if c.latency is not None and c.kind != "transport")
        failed = [c for c in calls if c.kind not in ("ack", "transport")]
        self.figures.update({
            "calls": len(calls),
            "answers": kinds,
            "latency_max_s": round(max(latencies), 3) if latencies else None,
            "latency_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1) if latencies else None,
            "failed_latency_max_s": round(max(c.latency for c in failed), 3) if failed else None,
            "delivered_without_ack": sum(1 for c in calls if c.kind != "ack" and c.client.got(c.message)),
            "error_statuses": sorted({c.status for c in calls if c.kind == "error"}),
        })
        print(f"\nCHAOS {json.dumps(self.figures)}")
        dump = os.environ.get("CHAOS_DUMP")  # a directory: every call of the run, for a closer look
        if dump:
            os.makedirs(dump, exist_ok=True)
            with open(os.path.join(dump, f"{self.tag}.jsonl"), "w") as f:
                f.write(json.dumps({"marks": self.marks}) + "\n")
                for c in calls:
                    f.write(json.dumps({"seq": c.seq, "gateway": c.gateway, "client": c.client.name,
                                        "start": round(c.started - self.t0, 3),
                                        "latency": None if c.latency is None else round(c.latency, 3),
                                        "kind": c.kind, "status": c.status, "acked_by": c.acked_by,
                                        "got": c.client.got(c.message), "error": c.error,
                                        "answer": c.answer}) + "\n")

    def mark(self, name: str) -> float:
        """Notes when something happened (for CHAOS_DUMP); returns the time."""
        now = time.monotonic()
        self.marks[name] = round(now - self.t0, 3)
        return now


@pytest.fixture
def chaos():
    """chaos(tag) -> a started Chaos harness; everything it started is stopped at the end,
    whatever happens (and the processes get SIGKILL if pytest itself dies)."""
    harnesses: list[Chaos] = []

    def make(tag: str) -> Chaos:
        harness = Chaos(tag)
        harnesses.append(harness)
        harness.start()
        return harness

    yield make
    for harness in harnesses:
        # pytest shows this only when the test fails
        print(harness.fleet.tails(40))
        print(f"----- redis log -----\n{harness.redis.log_tail()}")
        harness.close()


# --------------------------------------------------------------------------- the faults

def test_sigkill_a_node_under_load(chaos):
    c = chaos("node")
    fleet = c.fleet
    doomed, survivor = 1, 0
    doomed_id = fleet.node_id(doomed)
    homeless = [client for client in c.clients if client.node == doomed]

    fleet.nodes[doomed].kill(signal.SIGKILL)
    killed_at = c.mark("node killed")
    c.wait_recovered(killed_at, live_nodes=[survivor], live_gateways=[0, 1])
    # Its clients resumed on the survivor: same user id, node_lost as the protocol says.
    for client in homeless:
        assert client.resumes and client.node == survivor, (client.name, client.resumes)
        reconnected = client.frames_of("reconnected")
        assert reconnected and reconnected[-1]["_id"] == client.id, (client.name, client.frames)
        assert reconnected[-1]["previous_id"] in client.previous_ids, (client.name, reconnected)
        assert {"type": "replay_truncated", "reason": "node_lost"} in client.frames_of("replay_truncated"), client.frames
        status, answer = api(fleet, 0, f"event=isOnlineId&isOnlineId%5Bid%5D={c.user(client)}")
        assert answer["data"]["isOnlineId"] == {fleet.node_id(survivor): True}, answer
    c.figures["resumed_after_s"] = round(max(client.resumes[-1][0] for client in homeless) - killed_at, 2)
    for client in c.clients:
        if client not in homeless:
            assert not client.closes, f"{client.name} on the surviving node lost its connection: {client.closes}"
    c.assert_steady()

    def exempt(call: Call) -> bool:
        return call.acked_by == doomed_id and call.ended >= killed_at - KILL_GRACE

    calls = c.finish(exempt=exempt)
    # The dead node left master_ids within its heartbeat TTL (its last beat was at most one
    # interval before the kill; each answer's master_ids is read when the call starts): no
    # call started later than that lists it.
    listing = [c_.started for c_ in calls if c_.answer and doomed_id in c_.answer.get("master_ids", [])]
    left_after = max(listing) - killed_at
    c.figures["left_master_ids_after_s"] = round(left_after, 2)
    print(f"CHAOS node left master_ids {left_after:.2f} s after the kill")
    assert left_after <= HEARTBEAT_TTL + 0.25, f"a call started {left_after:.2f} s after the kill still listed the dead node"
    # The clients on the survivor were acknowledged throughout.
    stayed = [c_ for c_ in calls if c_.client.node == survivor and not c_.client.resumes]
    assert all(c_.kind == "ack" for c_ in stayed), [(c_.seq, c_.kind, c_.answer) for c_ in stayed if c_.kind != "ack"]


def test_sigkill_a_gateway_under_load(chaos):
    c = chaos("gateway")
    fleet = c.fleet
    fleet.gateways[1].kill(signal.SIGKILL)
    killed_at = c.mark("gateway killed")
    c.wait_recovered(killed_at, live_nodes=[0, 1], live_gateways=[0])
    c.assert_steady(dead_gateways=(1,))
    calls = c.finish(dead_gateways=(1,))
    through_survivor = [call for call in calls if call.gateway == 0]
    assert all(call.kind == "ack" for call in through_survivor), \
        [(call.seq, call.kind, call.answer, call.error) for call in through_survivor if call.kind != "ack"]
    after = [call for call in calls if call.gateway == 1 and call.started > killed_at]
    assert after and all(call.kind == "transport" for call in after), [(call.seq, call.kind) for call in after]
    for client in c.clients:
        assert not client.closes, f"{client.name} lost its connection: {client.closes}"


class ReadinessWatch:
    """Asks every process for /readyz, one after the other, until stopped; keeps (process,
    status, latency). A probe that takes longer than its own deadline is a hang too."""

    def __init__(self, services: list[Service]):
        self.services = services
        self.probes: list[tuple[str, int, float, float]] = []  # (process, status, when, latency)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="readyz", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for service in self.services:
                started = time.monotonic()
                try:
                    status = http_get(f"http://127.0.0.1:{service.health_port}/readyz", timeout=CLIENT_TIMEOUT)[0]
                except OSError:
                    status = 0
                self.probes.append((service.name, status, started, time.monotonic() - started))
            self._stop.wait(0.2)

    def check(self, chaos: "Chaos", frozen: tuple[float, float]) -> None:
        """Every probe answered within the probe's own 1 s deadline (plus SLACK); every process
        said 503 at least once while Redis was out."""
        self._stop.set()
        self._thread.join(CLIENT_TIMEOUT + 2)
        probes = list(self.probes)
        chaos.figures["readyz_probes"] = len(probes)
        chaos.figures["readyz_max_s"] = round(max(p[3] for p in probes), 3)
        slow = [(name, status, round(took, 2)) for name, status, _, took in probes if took > 1.0 + SLACK]
        assert not slow, f"/readyz answers later than 1 s + {SLACK} s: {slow}"
        for service in self.services:
            during = [status for name, status, at, _ in probes if name == service.name and frozen[0] <= at <= frozen[1]]
            assert 503 in during, f"{service.name} never said 503 while Redis was out: {during}"


def test_sigstop_redis_for_10_seconds_under_load(chaos):
    c = chaos("sigstop")
    watch = ReadinessWatch(c.fleet.survivors())
    c.redis.sigstop()
    stopped_at = c.mark("sigstop")
    time.sleep(SIGSTOP_SECONDS)  # the fault itself: Redis frozen, every connection to it open
    c.redis.sigcont()
    resumed_at = c.mark("sigcont")
    watch.check(c, frozen=(stopped_at, resumed_at))
    c.figures["stopped_s"] = round(resumed_at - stopped_at, 2)
    c.wait_recovered(resumed_at, live_nodes=[0, 1], live_gateways=[0, 1])
    c.assert_steady()
    c.finish()
    for client in c.clients:
        assert not client.closes, f"{client.name} lost its connection: {client.closes}"


def test_redis_restart_under_load(chaos):
    c = chaos("restart")
    fleet = c.fleet
    watch = ReadinessWatch(fleet.survivors())
    c.redis.kill()
    killed_at = c.mark("redis killed")
    # The fleet notices (every process unready)...
    for service in fleet.survivors():
        poll(lambda s=service: readyz(s.health_port) == 503, timeout=10,
             what=f"{service.name} /readyz 503 while Redis is down")
    # ...and Redis stays away a while (deliberately, like the SIGSTOP's 10 s): longer than a
    # heartbeat TTL, and long enough for the reconnection's backoff to grow, under traffic.
    time.sleep(max(0.0, killed_at + REDIS_DOWN_SECONDS - time.monotonic()))
    c.redis.start()  # same port, empty
    restarted_at = c.mark("redis started")
    c.figures["down_s"] = round(restarted_at - killed_at, 2)
    watch.check(c, frozen=(killed_at, restarted_at))
    c.wait_recovered(restarted_at, live_nodes=[0, 1], live_gateways=[0, 1])
    # The nodes wrote their bindings again: every user id is where its client is.
    for client in c.clients:
        poll(lambda cl=client: api(fleet, 0, f"event=isOnlineId&isOnlineId%5Bid%5D={c.user(cl)}")[1]["data"]["isOnlineId"]
             == {fleet.node_id(0): cl.node == 0, fleet.node_id(1): cl.node == 1},
             timeout=5, what=f"{client.name}'s user id bound again after the restart")
    c.assert_steady()
    c.finish()
    for client in c.clients:
        assert not client.closes, f"{client.name} lost its connection: {client.closes}"
