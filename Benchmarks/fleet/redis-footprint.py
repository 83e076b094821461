#!/usr/bin/env python3
"""What one connection costs Redis: memory while it is open, and CPU to open and close it.

One `wscenter node` (release build) on the Redis of REDIS_URL. N native clients connect, each
joins one of 100 rooms (a client `join`), then all close. Redis's `used_memory` is read before
and after they connect (bytes per connection: the `conn`, `conns`, `node:…:conns`, `group`,
`session` and `sessions` entries), and Redis's CPU (utime + stime of its PID, from /proc) over
the whole run (µs per connection opened, joined and closed, its session turned away).

    swift build -c release --product wscenter
    scripts/with-redis.sh python3 Benchmarks/fleet/redis-footprint.py --clients 2000
"""
import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis(url: str, *args: str) -> str:
    return subprocess.run(["redis-cli", "-u", url, *args], capture_output=True, text=True, check=True).stdout


def info_field(url: str, section: str, field: str) -> str:
    for line in redis(url, "INFO", section).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"no {field} in INFO {section}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def run(port: int, clients: int) -> list:
    sockets = []
    for index in range(clients):
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/", max_queue=None)
        await ws.recv()  # open
        await ws.recv()  # reconnect_token
        await ws.send(json.dumps({"type": "join", "room": f"room-{index % 100}"}))
        await ws.recv()  # joined
        sockets.append(ws)
    return sockets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=2000)
    a = ap.parse_args()
    url = os.environ["REDIS_URL"]
    binary = os.environ.get("WSCENTER_BIN") or os.path.join(ROOT, ".build", "release", "wscenter")
    pid = int(info_field(url, "server", "process_id"))
    prefix = f"footprint{os.getpid()}:"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_CLUSTER")}
    env.update({"REDIS_PREFIX": prefix, "PORT": str(port), "HTTP_PORT": str(free_port()), "HOST": "127.0.0.1",
                "APP_SECRET": "footprint-secret-3a9e", "LOG_LEVEL": "warning"})
    node = subprocess.Popen([binary, "node"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while redis(url, "HLEN", prefix + "nodes").strip() != "1":
            if time.monotonic() > deadline:
                raise SystemExit("the node did not start")
            time.sleep(0.1)
        memory0 = int(info_field(url, "memory", "used_memory"))
        cpu0 = cpu_seconds(pid)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        sockets = loop.run_until_complete(run(port, a.clients))
        deadline = time.monotonic() + 30
        while int(redis(url, "HLEN", prefix + "sessions").strip() or 0) < a.clients:
            if time.monotonic() > deadline:
                raise SystemExit("the bindings were not all written")
            time.sleep(0.1)
        time.sleep(1.0)
        memory1 = int(info_field(url, "memory", "used_memory"))
        async def close_all():
            await asyncio.gather(*(ws.close() for ws in sockets))
        loop.run_until_complete(close_all())
        deadline = time.monotonic() + 30
        while int(redis(url, "HLEN", prefix + "sessions").strip() or 0) > 0:
            if time.monotonic() > deadline:
                raise SystemExit("the sessions did not all turn away")
            time.sleep(0.1)
        time.sleep(1.0)
        cpu1 = cpu_seconds(pid)
        away = int(info_field(url, "memory", "used_memory"))
    finally:
        node.terminate()
        node.wait(15)
    result = {
        "clients": a.clients,
        "redis_bytes_per_open_connection": round((memory1 - memory0) / a.clients),
        "redis_bytes_per_away_session": round((away - memory0) / a.clients),
        "redis_cpu_us_per_connection_lifecycle": round(1e6 * (cpu1 - cpu0) / a.clients, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
