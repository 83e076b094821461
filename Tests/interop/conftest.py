"""Starts a real fleet (2 × `wscenter node`, 2 × `wscenter gateway`, one Redis) for the session.

Needs REDIS_URL (scripts/with-redis.sh sets it) and the binary in WSCENTER_BIN
(scripts/interop.sh sets it; else .build/debug/wscenter).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from interop_support import (  # noqa: E402
    APP1,
    Fleet,
    PysherClient,
    RawClient,
    wscenter_binary,
)

_fleet: Fleet | None = None


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # SIGTERM (CI timeouts) unwinds like Ctrl-C, so the fleet fixture stops its children.
    # (They also get SIGKILL if this process dies some other way: PR_SET_PDEATHSIG.)
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def fleet():
    global _fleet
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.exit("REDIS_URL is not set; run through scripts/with-redis.sh scripts/interop.sh", returncode=2)
    binary = wscenter_binary()
    if not os.access(binary, os.X_OK):
        pytest.exit(f"wscenter binary not found at {binary}; set WSCENTER_BIN", returncode=2)
    _fleet = Fleet(binary, redis_url)
    atexit.register(_fleet.stop)
    try:
        _fleet.start()
    except Exception:
        sys.stderr.write(_fleet.tails(60) + "\n")
        _fleet.stop()
        raise
    try:
        yield _fleet
    finally:
        _fleet.stop()
        _fleet = None


@pytest.fixture
def ensure_nodes(fleet):
    """Both nodes running (a node-death test may have killed one)."""
    for index, node in enumerate(fleet.nodes):
        if not node.alive():
            fleet.restart_node(index)
    return fleet


@pytest.fixture
def clients(ensure_nodes):
    """Factory of connected clients, closed when the test ends.

    clients.raw(node, key=..., protocol=..., established=True)
    clients.pysher(node, app=..., user_data=...)
    """
    fleet = ensure_nodes
    opened: list = []

    class Factory:
        def raw(self, node: int = 0, key: str = APP1["key"], protocol=7, established: bool = True,
                label: str | None = None) -> RawClient:
            client = RawClient(fleet.ws_url(node, key, protocol), label=label or f"raw@node{node}")
            opened.append(client)
            if established:
                client.established()
            return client

        def pysher(self, node: int = 0, app: dict = APP1, user_data: dict | None = None,
                   label: str | None = None) -> PysherClient:
            client = PysherClient(fleet.nodes[node].port, app=app, user_data=user_data,
                                  label=label or f"pysher@node{node}")
            opened.append(client)
            return client

    yield Factory()
    for client in reversed(opened):
        client.close()


@pytest.fixture
def rest(ensure_nodes):
    """rest(gateway=0, app=APP1, secret=None) → an official `pusher.Pusher` client."""
    return ensure_nodes.rest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _fleet is not None:
        report.sections.append(("wscenter stderr tails", _fleet.tails()))
