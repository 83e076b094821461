"""Soak: many native WebSocket connections for a long time with messages flowing, and the
servers' resident memory (RSS) sampled all along. It passes when the RSS of every wscenter
process at the end is within --tolerance (5 %) of its RSS after the warm-up.

    scripts/with-redis.sh python3 Benchmarks/soak/soak.py --binary .build/release/wscenter
    make soak                       (builds the release binary, then the above)

What runs (default --mode fleet): one `wscenter node` and one `wscenter gateway` (the binary
given, normally a release build) on the Redis at REDIS_URL, each with its own REDIS_PREFIX;
--mode serve runs one `wscenter serve` on its embedded broker instead. Then:

- --connections native WebSockets (default 10,000), spread over --client-procs client
  processes (asyncio, websockets). Each connection joins one of --rooms rooms
  (`room:soak-N`, by its own `join`), sends the text `ping` about every --ping-every seconds
  (answered `pong`), and one in 50 connections also sends a room `broadcast` every
  --talk-every seconds. A connection that drops is counted and opened again.
- API traffic through the gateway at steady rates: `broadcast` every --broadcast-every
  seconds, `sendToGroup` to a random room --group-rate times a second, `sendMessageTo_Id`
  to a random connection --direct-rate times a second.
- VmRSS of each server process (/proc/PID/status) every --sample seconds, with the
  connection count and the messages received so far.

Timeline: open every connection (not timed), then --duration seconds (default 600) of
traffic; the warm-up sample is the one at --warmup seconds (default 120) into it, the end one
the last. Report: RSS at warm-up and at the end, the max, the drift in %, the messages sent
(as the API and the nodes counted them) and received (as the clients counted them), errors.
Exit status 0 when the drift of every wscenter process is within the tolerance, 1 when not,
2 when the run itself could not be made (processes that die, connections that cannot open).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Optional

# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile(need: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        sys.exit(f"soak: the open-file limit is {soft} (hard {hard}); {need} are needed. Raise it (ulimit -Hn) and run again.")
    return soft


def rss_kb(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def redis_pid(url: str) -> Optional[int]:
    parsed = urllib.parse.urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            data = b""
            while b"process_id:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) > 4096 and b"process_id:" in data:
                    break
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("process_id:"):
                return int(line.split(":")[1])
    except OSError:
        return None
    return None


class Api:
    """The gateway's event API over keep-alive HTTP/1.1 connections (one per thread)."""

    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()

    def call(self, query: str, timeout: float = 10.0) -> tuple[int, dict]:
        for attempt in (1, 2):
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                connection.request("GET", "/?" + query)
                response = connection.getresponse()
                body = response.read()
                return response.status, json.loads(body)
            except (OSError, http.client.HTTPException, ValueError):
                connection.close()
                self.local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# --------------------------------------------------------------------------- client processes


def client_process(index: int, url: str, count_per_proc: int, rooms: int, ping_every: float, talk_every: float,
                   connect_concurrency: int, reports: mp.Queue, control: mp.Event) -> None:
    """Holds `count_per_proc` connections until `control` is set; reports counters every second."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    import websockets.asyncio.client as wsclient  # noqa: PLC0415 - only in the child
    from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: PLC0415

    counters = {"received": 0, "api_broadcast": 0, "api_group": 0, "api_direct": 0, "room_messages": 0,
                "pongs": 0, "sent": 0, "room_broadcasts": 0, "joined": 0, "connected": 0,
                "drops": 0, "connect_errors": 0, "client_errors": 0}
    new_ids: list[str] = []
    gone_ids: list[str] = []
    rng = random.Random(index)

    def count(text: str) -> None:
        counters["received"] += 1
        if text.startswith("soak-b"):
            counters["api_broadcast"] += 1
        elif text.startswith("soak-g"):
            counters["api_group"] += 1
        elif text.startswith("soak-d"):
            counters["api_direct"] += 1
        elif text.startswith('{"cmd":"pong"'):
            counters["pongs"] += 1
        elif '"type":"message"' in text:
            counters["room_messages"] += 1
        elif '"type":"joined"' in text:
            counters["joined"] += 1
        elif '"type":"error"' in text:
            counters["client_errors"] += 1

    async def speak(ws, room: str, talker: bool, slot: int) -> None:
        """The client's own messages: `ping` every ~ping_every s; a talker's room broadcast."""
        next_ping = time.monotonic() + rng.uniform(0, ping_every)
        next_talk = time.monotonic() + rng.uniform(0, talk_every) if talker else float("inf")
        try:
            while True:
                await asyncio.sleep(max(0.0, min(next_ping, next_talk) - time.monotonic()))
                now = time.monotonic()
                if now >= next_ping:
                    await ws.send("ping")
                    counters["sent"] += 1
                    next_ping = now + ping_every * rng.uniform(0.8, 1.2)
                if now >= next_talk:
                    await ws.send(json.dumps({"type": "broadcast", "room": room, "data": {"from": slot}}))
                    counters["sent"] += 1
                    counters["room_broadcasts"] += 1
                    next_talk = now + talk_every * rng.uniform(0.8, 1.2)
        except ConnectionClosed:
            return  # the reader sees the close too, and counts it

    async def one(slot: int, gate: asyncio.Semaphore) -> None:
        """One connection, opened again whenever it drops, until the run ends."""
        room = f"room:soak-{(index * count_per_proc + slot) % rooms}"
        talker = (index * count_per_proc + slot) % 50 == 0
        while not control.is_set():
            try:
                async with gate:
                    ws = await wsclient.connect(url, open_timeout=30, close_timeout=2, max_queue=64,
                                                compression=None, ping_interval=None)
            except (OSError, asyncio.TimeoutError, InvalidStatus):
                counters["connect_errors"] += 1
                await asyncio.sleep(1 + rng.random())
                continue
            my_id = None
            speaker = None
            try:
                opened_frame = json.loads(await ws.recv())
                await ws.recv()  # reconnect_token
                await ws.send(json.dumps({"type": "join", "room": room}))
                my_id = opened_frame["_id"]
                counters["connected"] += 1
                new_ids.append(my_id)
                speaker = asyncio.create_task(speak(ws, room, talker, slot))
                async for text in ws:  # ends when the connection closes
                    count(text)
                if not control.is_set():
                    counters["drops"] += 1
            except (ConnectionClosed, OSError, ValueError, KeyError):
                if not control.is_set():
                    counters["drops"] += 1
            finally:
                if speaker is not None:
                    speaker.cancel()
                if my_id is not None:
                    counters["connected"] -= 1
                    gone_ids.append(my_id)
                try:
                    await asyncio.wait_for(ws.close(), 3)
                except Exception:  # noqa: BLE001
                    pass

    async def main() -> None:
        gate = asyncio.Semaphore(connect_concurrency)
        tasks = [asyncio.create_task(one(slot, gate)) for slot in range(count_per_proc)]
        while not control.is_set():
            await asyncio.sleep(1)
            reports.put({"proc": index, "counters": dict(counters), "new_ids": list(new_ids), "gone_ids": list(gone_ids)})
            new_ids.clear()
            gone_ids.clear()
        await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        reports.put({"proc": index, "counters": dict(counters), "new_ids": [], "gone_ids": [], "final": True})

    asyncio.run(main())


# --------------------------------------------------------------------------- the servers


class Servers:
    """The wscenter processes under test (and, in fleet mode, the Redis PID to watch)."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="wscenter-soak-")
        self.procs: dict[str, subprocess.Popen] = {}
        self.ws_port = free_port()
        self.http_port = free_port()
        self.redis_pid: Optional[int] = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("APP_", "TOKEN", "NODE_", "PORT", "HTTP_PORT", "HOST", "REDIS_PREFIX", "CLIENT_"))}
        env.update({"HOST": "127.0.0.1", "LOG_LEVEL": "warning", "APP_SECRET": f"soak-{secrets.token_hex(8)}",
                    "PORT": str(self.ws_port), "HTTP_PORT": str(self.http_port),
                    # the clients ping every ~30 s and the API sends to random connections: no
                    # client exceeds either limit; set anyway so that the defaults cannot cut the run
                    "RATE_LIMIT": "0", "CLIENT_JOIN": "room:*"})
        if self.args.mode == "serve":
            env.pop("REDIS_URL", None)
            self._spawn("serve", ["serve"], env)
        else:
            redis_url = os.environ.get("REDIS_URL")
            if not redis_url:
                sys.exit("soak: --mode fleet needs REDIS_URL (run through scripts/with-redis.sh)")
            env["REDIS_URL"] = redis_url
            env["REDIS_PREFIX"] = f"soak-{secrets.token_hex(4)}:"
            self.redis_pid = redis_pid(redis_url)
            self._spawn("node", ["node"], dict(env, NODE_ID="soak-node"))
            self._spawn("gateway", ["gateway"], dict(env, NODE_ID="soak-gateway", PORT=str(free_port())))
        deadline = time.monotonic() + 30
        api = Api(self.http_port)
        while True:
            self.check_alive()
            try:
                status, answer = api.call("event=getConnectionCount", timeout=2)
                if status == 200 and answer.get("master_ids"):
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"soak: the servers did not come up:\n{self.tails()}")
            time.sleep(0.2)

    def _spawn(self, name: str, argv: list[str], env: dict) -> None:
        log = open(os.path.join(self.dir, f"{name}.log"), "wb")
        self.procs[name] = subprocess.Popen([self.args.binary] + argv, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log)
        log.close()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"soak: {name} exited with {proc.returncode}:\n{self.tails()}")

    def pids(self) -> dict[str, int]:
        pids = {name: proc.pid for name, proc in self.procs.items()}
        if self.redis_pid:
            pids["redis"] = self.redis_pid
        return pids

    def rss(self) -> dict[str, Optional[int]]:
        return {name: rss_kb(pid) for name, pid in self.pids().items()}

    def cpu(self) -> dict[str, Optional[float]]:
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

    def log_lines(self, levels: tuple[str, ...] = ("warning", "error", "critical")) -> list[str]:
        """The servers' log lines at these levels (LOG_LEVEL is warning: that is all of them)."""
        lines = []
        for name in self.procs:
            try:
                with open(os.path.join(self.dir, f"{name}.log"), "rb") as f:
                    for line in f.read().decode(errors="replace").splitlines():
                        if any(f"level={level}" in line for level in levels) and "TOKEN is not set" not in line:
                            lines.append(line)
            except OSError:
                pass
        return lines

    def tails(self, lines: int = 20) -> str:
        parts = []
        for name in self.procs:
            try:
                with open(os.path.join(self.dir, f"{name}.log"), "rb") as f:
                    text = "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
            except OSError as error:
                text = f"(no log: {error})"
            parts.append(f"----- {name} -----\n{text}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


# --------------------------------------------------------------------------- API traffic


class Traffic:
    """broadcast, sendToGroup and sendMessageTo_Id at steady rates, in threads."""

    def __init__(self, api: Api, args: argparse.Namespace, ids: list[str], ids_lock: threading.Lock):
        self.api = api
        self.args = args
        self.ids = ids
        self.ids_lock = ids_lock
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.stats = {"calls": 0, "errors": 0, "timeouts": 0, "slow_calls": 0, "max_latency_s": 0.0,
                      "broadcast_reached": 0, "group_reached": 0, "direct_reached": 0, "direct_missed": 0,
                      "broadcast_timed_out": 0, "group_timed_out": 0, "direct_timed_out": 0}
        self.error_samples: list[str] = []
        # calls slower than CALL_TIMEOUT + 0.5 s, or whose answer names a node in `extra`
        self.incidents: list[dict] = []
        self.t0 = time.monotonic()
        self.threads = [
            threading.Thread(target=self._every, args=(args.broadcast_every, self._broadcast), daemon=True),
            threading.Thread(target=self._every, args=(1 / args.group_rate, self._group), daemon=True),
            threading.Thread(target=self._every, args=(1 / args.direct_rate, self._direct), daemon=True),
        ]
        self.seq = 0

    def start(self) -> None:
        self.t0 = time.monotonic()
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)

    def _every(self, period: float, action) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            action()
            next_at += period
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()  # fell behind: do not burst to catch up
            self.stop.wait(max(0.0, delay))

    def _call(self, event: str, params: dict) -> Optional[dict]:
        query = f"event={event}" + "".join(f"&{event}%5B{k}%5D={q(v)}" for k, v in params.items())
        started = time.monotonic()
        try:
            status, answer = self.api.call(query)
        except (OSError, http.client.HTTPException, ValueError) as error:
            self._error(f"{event}: {type(error).__name__}: {error}")
            return None
        latency = time.monotonic() - started
        extra = answer.get("extra") if isinstance(answer, dict) else None
        with self.lock:
            self.stats["calls"] += 1
            self.stats["max_latency_s"] = max(self.stats["max_latency_s"], latency)
            if latency > 2.5:
                self.stats["slow_calls"] += 1
            if latency > 2.5 or extra:
                self.incidents.append({"t": round(started - self.t0, 1), "event": event,
                                       "latency_s": round(latency, 3), "status": status, "extra": extra})
        if status != 200 or answer.get("code") != 0:
            self._error(f"{event}: HTTP {status} {json.dumps(answer)[:200]}")
            return None
        if extra:
            with self.lock:
                self.stats["timeouts"] += 1
                self.stats[{"broadcast": "broadcast_timed_out", "sendToGroup": "group_timed_out"}.get(event, "direct_timed_out")] += 1
        return answer["data"][event]

    def _error(self, text: str) -> None:
        with self.lock:
            self.stats["errors"] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(text)

    def _next(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def _broadcast(self) -> None:
        results = self._call("broadcast", {"msg": f"soak-b-{self._next()}"})
        if results is not None:
            with self.lock:
                self.stats["broadcast_reached"] += sum(v for v in results.values() if isinstance(v, int))

    def _group(self) -> None:
        room = f"room:soak-{random.randrange(self.args.rooms)}"
        results = self._call("sendToGroup", {"groupId": room, "msg": f"soak-g-{self._next()}"})
        if results is not None:
            with self.lock:
                self.stats["group_reached"] += sum(v for v in results.values() if isinstance(v, int))

    def _direct(self) -> None:
        with self.ids_lock:
            if not self.ids:
                return
            target = random.choice(self.ids)
        results = self._call("sendMessageTo_Id", {"_id": target, "msg": f"soak-d-{self._next()}"})
        if results is not None:
            reached = sum(v for v in results.values() if isinstance(v, int))
            with self.lock:
                self.stats["direct_reached" if reached else "direct_missed"] += 1


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("WSCENTER_BIN", ".build/release/wscenter"))
    parser.add_argument("--mode", choices=("fleet", "serve"), default="fleet")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=600, help="seconds of traffic once connected")
    parser.add_argument("--warmup", type=float, default=120, help="seconds into the traffic of the baseline sample")
    parser.add_argument("--sample", type=float, default=10, help="seconds between RSS samples")
    parser.add_argument("--tolerance", type=float, default=5.0, help="largest RSS drift that passes, in %%")
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--connect-concurrency", type=int, default=50, help="connections opening at once per client process")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--ping-every", type=float, default=30)
    parser.add_argument("--talk-every", type=float, default=30)
    parser.add_argument("--broadcast-every", type=float, default=10)
    parser.add_argument("--group-rate", type=float, default=5)
    parser.add_argument("--direct-rate", type=float, default=20)
    parser.add_argument("--json", help="also write the report here as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs even when the run passes")
    args = parser.parse_args()
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"soak: no executable at {args.binary} (build with: swift build -c release --product wscenter)")

    # The node holds every connection; each client process holds its share. Children inherit it.
    limit = raise_nofile(args.connections + 1024)
    per_proc = [args.connections // args.client_procs + (1 if i < args.connections % args.client_procs else 0)
                for i in range(args.client_procs)]
    servers = Servers(args)
    machine = f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    print(f"soak: {args.mode} mode, {args.connections} connections in {args.client_procs} client processes, "
          f"{args.duration:.0f} s of traffic, warm-up sample at {args.warmup:.0f} s; open-file limit {limit}", flush=True)
    print(f"soak: machine {machine}", flush=True)
    servers.start()
    print(f"soak: servers {', '.join(f'{n} pid {p.pid}' for n, p in servers.procs.items())}"
          f"{f', redis pid {servers.redis_pid}' if servers.redis_pid else ''}; logs in {servers.dir}", flush=True)

    ctx = mp.get_context("fork")
    reports: mp.Queue = ctx.Queue()
    control = ctx.Event()
    procs = [ctx.Process(target=client_process, daemon=True,
                         args=(i, f"ws://127.0.0.1:{servers.ws_port}/", n, args.rooms, args.ping_every,
                               args.talk_every, args.connect_concurrency, reports, control))
             for i, n in enumerate(per_proc)]
    latest: dict[int, dict] = {}
    ids: list[str] = []
    id_set: set[str] = set()
    ids_lock = threading.Lock()
    api = Api(servers.http_port)
    traffic = Traffic(api, args, ids, ids_lock)
    samples: list[dict] = []
    status = 2
    try:
        for proc in procs:
            proc.start()

        def drain_reports() -> None:
            while True:
                try:
                    report = reports.get_nowait()
                except Exception:  # noqa: BLE001 - queue.Empty
                    return
                latest[report["proc"]] = report
                with ids_lock:
                    for gone in report["gone_ids"]:
                        id_set.discard(gone)
                    id_set.update(report["new_ids"])
                    if report["new_ids"] or report["gone_ids"]:
                        ids[:] = list(id_set)

        def total(key: str) -> int:
            return sum(r["counters"][key] for r in latest.values())

        # Open every connection (not timed).
        opening = time.monotonic()
        while True:
            time.sleep(1)
            servers.check_alive()
            drain_reports()
            connected = total("connected") if latest else 0
            print(f"soak: opening: {connected}/{args.connections} connected, "
                  f"{total('connect_errors') if latest else 0} connect errors", flush=True)
            if connected >= args.connections:
                break
            if time.monotonic() - opening > 300:
                raise SystemExit(f"soak: only {connected} of {args.connections} connections opened in 300 s")
        opened_in = time.monotonic() - opening
        print(f"soak: all {args.connections} connections open after {opened_in:.0f} s; traffic for {args.duration:.0f} s", flush=True)

        traffic.start()
        started = time.monotonic()
        next_sample = started
        sampling_timeouts = 0
        last_cpu, last_at = servers.cpu(), started
        while True:
            now = time.monotonic()
            if now >= next_sample:
                servers.check_alive()
                drain_reports()
                connections: object = None
                try:
                    _, answer = api.call("event=getConnectionCount", timeout=10)
                    counts = answer["data"]["getConnectionCount"]
                    # a node that did not answer in time has {"code":3,"msg":"timeout"}
                    connections = (sum(counts.values()) if all(isinstance(v, int) for v in counts.values())
                                   else f"node timed out ({json.dumps(answer['extra'])})")
                    if not isinstance(connections, int):
                        sampling_timeouts += 1
                except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
                    connections = f"no answer: {type(error).__name__}"
                cpu = servers.cpu()
                cpu_pct = {}
                if now - last_at >= 1:  # CPU use since the previous sample, in % of one core
                    cpu_pct = {name: round((value - last_cpu[name]) / (now - last_at) * 100, 1)
                               for name, value in cpu.items() if value is not None and last_cpu.get(name) is not None}
                    last_cpu, last_at = cpu, now
                sample = {"t": round(now - started, 1), "rss_kb": servers.rss(), "cpu_pct": cpu_pct,
                          "load1": round(os.getloadavg()[0], 2), "connections": connections,
                          "received": total("received"), "drops": total("drops")}
                samples.append(sample)
                rss = ", ".join(f"{k} {v / 1024:.1f} MB" for k, v in sample["rss_kb"].items() if v)
                cpus = " ".join(f"{k} {v:.0f}%" for k, v in cpu_pct.items())
                print(f"soak: t={sample['t']:6.1f}s  {rss}  connections {connections}  "
                      f"received {sample['received']}  drops {sample['drops']}  cpu {cpus}  load {sample['load1']}",
                      flush=True)
                if now - started >= args.duration:
                    break
                next_sample += args.sample
            time.sleep(max(0.0, min(1.0, next_sample - time.monotonic())))

        traffic.join()
        # Let the last messages arrive, then read the nodes' own counters.
        time.sleep(3)
        drain_reports()
        stats = {}
        try:
            _, answer = api.call("event=getStats", timeout=10)
            stats = answer["data"]["getStats"]
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            pass
        control.set()
        deadline = time.monotonic() + 30
        finals = 0
        while finals < len(procs) and time.monotonic() < deadline:
            try:
                report = reports.get(timeout=1)
            except Exception:  # noqa: BLE001
                continue
            latest[report["proc"]] = report
            finals += 1 if report.get("final") else 0

        # The report.
        warm = min(samples, key=lambda s: abs(s["t"] - args.warmup))
        end = samples[-1]
        result: dict = {"mode": args.mode, "machine": machine, "connections": args.connections,
                        "duration_s": args.duration, "warmup_sample_s": warm["t"], "end_sample_s": end["t"],
                        "opened_in_s": round(opened_in, 1), "processes": {}, "tolerance_pct": args.tolerance}
        passed = True
        for name in end["rss_kb"]:
            series = [s["rss_kb"].get(name) for s in samples if s["rss_kb"].get(name)]
            at_warm, at_end = warm["rss_kb"].get(name), end["rss_kb"].get(name)
            if not at_warm or not at_end:
                continue
            drift = (at_end - at_warm) / at_warm * 100
            judged = name != "redis"
            ok = abs(drift) <= args.tolerance
            passed &= ok or not judged
            result["processes"][name] = {
                "rss_start_mb": round(series[0] / 1024, 1), "rss_warmup_mb": round(at_warm / 1024, 1),
                "rss_end_mb": round(at_end / 1024, 1), "rss_max_mb": round(max(series) / 1024, 1),
                "drift_pct": round(drift, 2), "judged": judged, "within_tolerance": ok}
        counters = {key: total(key) for key in next(iter(latest.values()))["counters"]}
        result["clients"] = counters
        result["api"] = dict(traffic.stats, max_latency_s=round(traffic.stats["max_latency_s"], 3),
                             error_samples=traffic.error_samples)
        result["node_stats"] = stats
        # Per kind: what the answers acknowledged (the connections that took the message, as
        # the nodes that answered in time counted them), what the clients received, and the
        # calls whose answer named a node in `extra` (what that node delivered late is not in
        # "acknowledged", but is in "received").
        result["api_messages"] = {}
        for kind, acked, received, timed_out in (("broadcast", "broadcast_reached", "api_broadcast", "broadcast_timed_out"),
                                                 ("sendToGroup", "group_reached", "api_group", "group_timed_out"),
                                                 ("sendMessageTo_Id", "direct_reached", "api_direct", "direct_timed_out")):
            a, r = traffic.stats[acked], counters[received]
            result["api_messages"][kind] = {"acknowledged": a, "received": r, "calls_timed_out": traffic.stats[timed_out],
                                            "acknowledged_not_received": max(0, a - r),
                                            "received_not_acknowledged": max(0, r - a)}
        result["incidents"] = traffic.incidents
        log_lines = servers.log_lines()
        result["server_warnings"] = len(log_lines)
        result["server_warning_samples"] = log_lines[:20]
        result["sampling_timeouts"] = sampling_timeouts
        result["passed"] = passed
        result["samples"] = samples
        print("\nsoak: RSS per process (warm-up sample vs end sample):")
        for name, p in result["processes"].items():
            verdict = ("ok" if p["within_tolerance"] else "OVER") if p["judged"] else "(not judged)"
            print(f"  {name:8s} start {p['rss_start_mb']:8.1f} MB  warm-up {p['rss_warmup_mb']:8.1f} MB  "
                  f"end {p['rss_end_mb']:8.1f} MB  max {p['rss_max_mb']:8.1f} MB  drift {p['drift_pct']:+6.2f} %  {verdict}")
        print(f"soak: client counters: {json.dumps(counters)}")
        print(f"soak: API: {json.dumps(result['api'])}")
        print(f"soak: API messages: {json.dumps(result['api_messages'])}")
        print(f"soak: slow or timed-out calls: {len(traffic.incidents)}")
        for incident in traffic.incidents[:20]:
            near = min(samples, key=lambda sample: abs(sample["t"] - incident["t"]))
            print(f"  {json.dumps(incident)}  (load {near['load1']} at t={near['t']})")
        print(f"soak: node stats: {json.dumps(stats)}")
        print(f"soak: samples whose getConnectionCount timed out: {sampling_timeouts}")
        print(f"soak: server warnings and errors: {len(log_lines)}")
        for line in log_lines[:20]:
            print(f"  {line}")
        print(f"soak: {'PASS' if passed else 'FAIL'}: RSS drift within {args.tolerance} % for every wscenter process"
              if passed else f"soak: FAIL: RSS drift above {args.tolerance} %")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
        status = 0 if passed else 1
    finally:
        control.set()
        traffic.stop.set()
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        servers.stop()
        if status == 0 and not args.keep_logs:
            shutil.rmtree(servers.dir, ignore_errors=True)
        else:
            print(f"soak: the servers' logs are in {servers.dir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
