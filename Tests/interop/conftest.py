"""Starts a real fleet (2 × `wscenter node`, 2 × `wscenter gateway`, one Redis) for the session.

Needs REDIS_URL (scripts/with-redis.sh sets it) and the binary in WSCENTER_BIN
(scripts/interop.sh sets it; else .build/debug/wscenter).
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from interop_support import (  # noqa: E402
    APP1,
    Fleet,
    PysherClient,
    RawClient,
    session_fleet,
    unwind_on_sigterm,
)

_fleet: Fleet | None = None


def pytest_configure(config):
    unwind_on_sigterm()


@pytest.fixture(scope="session")
def fleet():
    global _fleet
    for _fleet in session_fleet(Fleet, "scripts/interop.sh"):
        yield _fleet
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
