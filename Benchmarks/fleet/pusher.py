#!/usr/bin/env python3
"""Pusher events from the REST API to N subscribers spread over the fleet's nodes.

    pusher.py GATEWAY_URL NODE_WS_URL [NODE_WS_URL...] [--connections 5000] [--rounds 5] [--events 50]

Each connection is what pysher or pusher-js opens (`/app/{key}?protocol=7`) and subscribes to
one public channel. Then:
  1. latency: one signed REST trigger at a time; the time until every subscriber has it;
  2. throughput: `--events` triggers sent back to back from 4 threads; the time until every
     subscriber has all of them, as events/s and deliveries/s.
Needs PyPI `websockets`. The default app (app-key / bench-secret-7d3a9c1e5b, id 1) must be configured, as run.sh does.
"""
import argparse
import asyncio
import hashlib
import hmac
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import websockets

from servercpu import server_cpu_seconds

APP_ID, KEY, SECRET = "1", "app-key", "bench-secret-7d3a9c1e5b"  # as Benchmarks/fleet/run.sh sets it
CHANNEL = "bench"


def trigger(gateway, name, data):
    path = f"/apps/{APP_ID}/events"
    body = json.dumps({"name": name, "channels": [CHANNEL], "data": data}).encode()
    params = {
        "auth_key": KEY,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    query = "&".join(f"{k}={params[k]}" for k in sorted(params))
    signature = hmac.new(SECRET.encode(), f"POST\n{path}\n{query}".encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{gateway}{path}?{query}&auth_signature={signature}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status


async def open_all(urls, count):
    sockets = []
    batch = 200
    for start in range(0, count, batch):
        opened = await asyncio.gather(*(websockets.connect(f"{urls[i % len(urls)]}/app/{KEY}?protocol=7", max_queue=None)
                                        for i in range(start, min(count, start + batch))))
        for ws in opened:
            established = json.loads(await ws.recv())
            assert established["event"] == "pusher:connection_established", established
            await ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": CHANNEL}}))
        for ws in opened:
            succeeded = json.loads(await ws.recv())
            assert succeeded["event"] == "pusher_internal:subscription_succeeded", succeeded
        sockets.extend(opened)
    return sockets


async def receive(ws, count):
    for _ in range(count):
        await ws.recv()



async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("gateway")
    parser.add_argument("nodes", nargs="+")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--pids", type=int, nargs="*", default=[], help="server PIDs whose CPU is counted")
    args = parser.parse_args()

    sockets = await open_all(args.nodes, args.connections)
    print(f"subscribers: {len(sockets)} on {len(args.nodes)} nodes")
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(4)
    for round_ in range(args.rounds):
        start = time.perf_counter()
        sent = loop.run_in_executor(pool, trigger, args.gateway, "tick", f"round-{round_}")
        await asyncio.gather(*(receive(ws, 1) for ws in sockets))
        elapsed = time.perf_counter() - start
        await sent
        print(f"latency round {round_}: all {len(sockets)} received one event after {elapsed * 1000:.1f} ms")
    cpu0 = server_cpu_seconds(args.pids)
    start = time.perf_counter()
    sends = [loop.run_in_executor(pool, trigger, args.gateway, "burst", str(i)) for i in range(args.events)]
    await asyncio.gather(*(receive(ws, args.events) for ws in sockets))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*sends)
    deliveries = args.events * len(sockets)
    line = (f"throughput: {args.events} events to {len(sockets)} subscribers in {elapsed * 1000:.0f} ms: "
            f"{args.events / elapsed:.0f} events/s, {deliveries / elapsed:.0f} deliveries/s")
    if args.pids:
        line += f"; server CPU {(server_cpu_seconds(args.pids) - cpu0) * 1e6 / deliveries:.1f} µs per delivery (nodes and gateway)"
    print(line)
    await asyncio.gather(*(ws.close() for ws in sockets))


asyncio.run(main())
