#!/usr/bin/env python3
"""Broadcast to N idle WebSocket connections spread over the fleet's nodes, and time how
long until every connection has received the message.

    broadcast.py GATEWAY_URL NODE_URL [NODE_URL...] [--connections 5000] [--rounds 5]

Prints one line per round: time from sending the API request until the last connection
received the message, and the API's reported count. Needs PyPI `websockets`.
"""
import argparse
import asyncio
import json
import time
import urllib.request

import websockets

from servercpu import server_cpu_seconds


async def open_all(urls, count):
    sockets = []
    batch = 200
    for start in range(0, count, batch):
        chunk = [websockets.connect(urls[i % len(urls)], max_queue=None) for i in range(start, min(count, start + batch))]
        opened = await asyncio.gather(*chunk)
        for ws in opened:
            await ws.recv()  # {"cmd":"open",...}
            await ws.recv()  # {"type":"reconnect_token",...}
        sockets.extend(opened)
    return sockets


def api(gateway, query):
    with urllib.request.urlopen(f"{gateway}/?{query}", timeout=30) as response:
        return json.loads(response.read())



async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("gateway")
    parser.add_argument("nodes", nargs="+")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=50, help="broadcasts sent back to back for the CPU figure")
    parser.add_argument("--pids", type=int, nargs="*", default=[], help="server PIDs whose CPU is counted")
    args = parser.parse_args()

    sockets = await open_all(args.nodes, args.connections)
    total = api(args.gateway, "event=getConnectionCount")
    print(f"connections open: {sum(total['data']['getConnectionCount'].values())}")
    loop = asyncio.get_running_loop()
    for round_ in range(args.rounds):
        message = f"round-{round_}"
        start = time.perf_counter()
        answer = loop.run_in_executor(None, api, args.gateway, f"event=broadcast&broadcast%5Bmsg%5D={message}")
        received = await asyncio.gather(*(ws.recv() for ws in sockets))
        elapsed = time.perf_counter() - start
        reached = sum((await answer)["data"]["broadcast"].values())
        assert all(text == message for text in received), "a connection got something else"
        print(f"round {round_}: {len(received)} received in {elapsed * 1000:.1f} ms (API reported {reached})")
    # Throughput and the servers' CPU per delivery: --events broadcasts back to back.
    cpu0 = server_cpu_seconds(args.pids)
    start = time.perf_counter()
    sends = [loop.run_in_executor(None, api, args.gateway, f"event=broadcast&broadcast%5Bmsg%5D=burst-{i}") for i in range(args.events)]
    await asyncio.gather(*(receive_count(ws, args.events) for ws in sockets))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*sends)
    deliveries = args.events * len(sockets)
    line = f"throughput: {args.events} broadcasts to {len(sockets)} connections in {elapsed * 1000:.0f} ms: {deliveries / elapsed:.0f} deliveries/s"
    if args.pids:
        line += f"; server CPU {(server_cpu_seconds(args.pids) - cpu0) * 1e6 / deliveries:.1f} µs per delivery (nodes and gateway)"
    print(line)
    await asyncio.gather(*(ws.close() for ws in sockets))


async def receive_count(ws, count):
    for _ in range(count):
        await ws.recv()


asyncio.run(main())
