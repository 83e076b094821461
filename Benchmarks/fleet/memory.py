"""Resident memory per idle WebSocket connection on one node.

    python3 Benchmarks/fleet/memory.py http://127.0.0.1:8011 ws://127.0.0.1:8090/ --connections 5000

Reads the node's `memory` (resident bytes) from `?event=getStats` on the gateway, opens
`--connections` idle native connections, waits, reads it again, and prints the difference
per connection. Run it against a fleet with one node (the first node's stats are read).
Raise `ulimit -n` first for thousands of connections.
"""

import argparse
import asyncio
import json
import urllib.request

import websockets


def node_stats(gateway: str) -> dict:
    with urllib.request.urlopen(gateway + "/?event=getStats", timeout=10) as response:
        answer = json.loads(response.read())
    return next(iter(answer["data"]["getStats"].values()))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gateway")
    parser.add_argument("node")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--settle", type=float, default=2.0)
    args = parser.parse_args()
    before = node_stats(args.gateway)
    sockets = [await websockets.connect(args.node, max_queue=4, compression=None) for _ in range(args.connections)]
    await asyncio.sleep(args.settle)
    after = node_stats(args.gateway)
    grown = after["memory"] - before["memory"]
    print(f"connections: {before['connections']} -> {after['connections']}")
    print(f"resident memory: {before['memory'] / 1e6:.1f} MB -> {after['memory'] / 1e6:.1f} MB")
    print(f"per connection: {grown / max(1, after['connections'] - before['connections']) / 1e3:.1f} KB")
    for socket in sockets:
        await socket.close()


asyncio.run(main())
