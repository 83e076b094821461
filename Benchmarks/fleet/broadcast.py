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
    await asyncio.gather(*(ws.close() for ws in sockets))


asyncio.run(main())
