#!/usr/bin/env python3
"""Capacity of a fleet as it grows: fan-out through the event API with 1, 2 and 3 nodes (and
one gateway) on one Redis, and on a Redis Cluster of 3 masters, measured by the neutral load
generator of ../shared/perf (loadgen.py). For each run it prints, and appends as one JSON line
to --out, the deliveries per second and the CPU each process spent per delivery: the nodes
together, the gateway, and Redis (every master of the cluster together).

    swift build -c release --product wscenter
    WITH_CLUSTER=1 scripts/with-redis.sh python3 Benchmarks/fleet/capacity.py --out /tmp/capacity.jsonl

Needs REDIS_URL and REDIS_CLUSTER_NODES (WITH_CLUSTER=1 scripts/with-redis.sh gives both, each a
throwaway server on free ports) and the lab's Python modules (../shared/perf/setup.sh). Nothing
is pinned: on a 2-core machine the generator and the servers share both cores, so compare the
CPU per delivery between runs, not the absolute deliveries per second. Redis's CPU is read
from /proc for the PID that `INFO server` reports.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.environ.get("PERF_LAB") or os.path.join(os.path.dirname(ROOT), "shared", "perf")
SECRET = "capacity-secret-5e1f0b7c2d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"capacity: {url} did not answer 200 within {timeout} s")


def redis_pid(host: str, port: int) -> int:
    info = subprocess.run(["redis-cli", "-h", host, "-p", str(port), "INFO", "server"],
                          capture_output=True, text=True, check=True).stdout
    for line in info.splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    raise SystemExit(f"capacity: no process_id from {host}:{port}")


def cluster_masters(seed: str) -> list[tuple[str, int]]:
    host, port = seed.rsplit(":", 1)
    nodes = subprocess.run(["redis-cli", "-h", host, "-p", port, "CLUSTER", "NODES"],
                           capture_output=True, text=True, check=True).stdout
    masters = []
    for line in nodes.splitlines():
        fields = line.split()
        if len(fields) > 8 and "master" in fields[2].split(",") and "fail" not in fields[2]:
            address = fields[1].split("@")[0]
            h, p = address.rsplit(":", 1)
            masters.append((h or host, int(p)))
    return masters


class Fleet:
    """N nodes and one gateway on the broker `broker_env` names, each a fresh process."""

    def __init__(self, binary: str, nodes: int, broker_env: dict, logdir: str):
        self.procs: list[tuple[str, subprocess.Popen]] = []
        prefix = f"cap{os.getpid()}-{time.monotonic_ns() % 100000}:"
        base = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
        base.update(broker_env)
        base.update({"REDIS_PREFIX": prefix, "HOST": "127.0.0.1", "APP_SECRET": SECRET, "LOG_LEVEL": "warning"})
        self.ws = []
        for index in range(nodes):
            port = free_port()
            self.start(binary, f"node{index}", ["node"], dict(base, PORT=str(port), HTTP_PORT=str(free_port())), logdir)
            self.ws.append(f"ws://127.0.0.1:{port}/")
        self.http_port = free_port()
        self.start(binary, "gateway", ["gateway"], dict(base, HTTP_PORT=str(self.http_port)), logdir)
        wait_http(f"http://127.0.0.1:{self.http_port}/readyz")
        # Every node listed before the clients come.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/?event=getConnectionCount", timeout=5) as r:
                if len(json.loads(r.read())["master_ids"]) == nodes:
                    return
            time.sleep(0.1)
        raise SystemExit("capacity: the gateway does not list every node")

    def start(self, binary: str, label: str, args: list[str], env: dict, logdir: str) -> None:
        log = open(os.path.join(logdir, f"{label}.log"), "ab")
        self.procs.append((label, subprocess.Popen([binary] + args, env=env, stdout=log, stderr=subprocess.STDOUT)))

    def pids(self) -> list[str]:
        return [f"{label}={p.pid}" for label, p in self.procs]

    def stop(self) -> None:
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for _, p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def run(binary: str, broker: str, nodes: int, a, logdir: str) -> dict:
    if broker == "redis":
        url = os.environ["REDIS_URL"]
        host, port = url.split("//", 1)[1].split("/")[0].rsplit(":", 1)
        redis = [(host, int(port))]
        env = {"REDIS_URL": url}
    else:
        seeds = os.environ["REDIS_CLUSTER_NODES"]
        redis = cluster_masters(seeds.split(",")[0])
        env = {"REDIS_CLUSTER_NODES": seeds}
    fleet = Fleet(binary, nodes, env, logdir)
    try:
        pids = fleet.pids() + [f"redis{i}={redis_pid(h, p)}" for i, (h, p) in enumerate(redis)]
        cmd = [sys.executable, os.path.join(LAB, "loadgen.py"), "--proto", "native", "--api", "wscenter",
               "-c", str(a.clients), "-m", str(a.broadcasts), "-n", str(a.sends), "--window", str(a.window),
               "--http", f"http://127.0.0.1:{fleet.http_port}", "--timeout", "200",
               "--label", f"{broker} nodes={nodes}"]
        for url in fleet.ws:
            cmd += ["--ws", url]
        for pid in pids:
            cmd += ["--pid", pid]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise SystemExit(f"capacity: loadgen printed nothing: {out.stderr[-2000:]}")
        result = json.loads(lines[-1])
    finally:
        fleet.stop()
    fanout = result.get("fanout", {})
    pct = fanout.get("cpu_pct", {}).get("server", {})
    total_pct = sum(pct.values()) or 1
    per_delivery = fanout.get("cpu_us_per_delivery", {}).get("server") or 0

    def share(prefix: str) -> float:
        return round(per_delivery * sum(v for k, v in pct.items() if k.startswith(prefix)) / total_pct, 2)

    delivered = fanout.get("delivered") or 0
    calls = a.broadcasts
    record = {
        "broker": broker, "nodes": nodes, "clients": a.clients, "window": a.window,
        "deliveries_per_s": fanout.get("deliveries_per_s"), "lost": fanout.get("lost"),
        "latency_ms": fanout.get("latency_ms"),
        "us_per_delivery": {"nodes": share("node"), "gateway": share("gateway"), "redis": share("redis"), "all": per_delivery},
        # Redis and gateway work is per call, not per delivery: per broadcast call.
        "us_per_call": {
            "redis": round(share("redis") * delivered / calls, 1) if calls else None,
            "gateway": round(share("gateway") * delivered / calls, 1) if calls else None,
        },
        "cpu_pct": pct,
        "send_ms": result.get("send", {}).get("latency_ms"),
        "idle_bytes_per_conn": result.get("idle", {}).get("server_bytes_per_conn"),
    }
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/capacity.jsonl")
    ap.add_argument("--brokers", default="redis,cluster")
    ap.add_argument("--nodes", default="1,2,3")
    ap.add_argument("--clients", type=int, default=3000)
    ap.add_argument("--broadcasts", type=int, default=300)
    ap.add_argument("--sends", type=int, default=200)
    ap.add_argument("--window", type=int, default=8)
    a = ap.parse_args()
    binary = os.environ.get("WSCENTER_BIN") or os.path.join(ROOT, ".build", "release", "wscenter")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"capacity: no wscenter at {binary}: swift build -c release --product wscenter")
    logdir = tempfile.mkdtemp(prefix="wscenter-capacity-")
    print(f"capacity: logs in {logdir}", file=sys.stderr)
    rows = []
    for broker in a.brokers.split(","):
        for nodes in [int(n) for n in a.nodes.split(",")]:
            record = run(binary, broker, nodes, a, logdir)
            rows.append(record)
            with open(a.out, "a") as f:
                f.write(json.dumps(record, separators=(",", ":")) + "\n")
            print(json.dumps(record), file=sys.stderr)
    print("| broker | nodes | deliveries/s | lost | p50 / p99 ms | µs CPU per delivery: nodes | gateway | Redis | Redis µs per call | gateway µs per call |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lat = r["latency_ms"] or {}
        per = r["us_per_delivery"]
        print(f"| {r['broker']} | {r['nodes']} | {r['deliveries_per_s']} | {r['lost']} | {lat.get('p50')} / {lat.get('p99')} "
              f"| {per['nodes']} | {per['gateway']} | {per['redis']} | {r['us_per_call']['redis']} | {r['us_per_call']['gateway']} |")


if __name__ == "__main__":
    main()
