"""A real fleet (2 nodes, 2 gateways with a TOKEN, one Redis) and headless Chromium.

Needs REDIS_URL (scripts/with-redis.sh) and the binary in WSCENTER_BIN (scripts/browser.sh
sets it; else .build/debug/wscenter). The fleet is the interop suite's, with an API token.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))

from interop_support import Fleet, poll, session_fleet, unwind_on_sigterm  # noqa: E402

TOKEN = "browser-test-token"


class TokenFleet(Fleet):
    """The interop fleet, its gateways asking for TOKEN."""

    def _env(self, **extra: str) -> dict:
        env = super()._env(**extra)
        env["TOKEN"] = TOKEN
        return env

    def api(self, query: str, gateway: int = 0, token: str | None = TOKEN) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.gateways[gateway].http_port}/?{query}")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def wait_nodes_visible(self, timeout: float = 10.0) -> None:
        expected = {node.env["NODE_ID"] for node in self.nodes if node.alive()}
        for index in range(len(self.gateways)):
            poll(lambda i=index: set(self.api("event=getConnectionCount", i)[1].get("master_ids", [])) == expected,
                 timeout=timeout, what=f"gateway{index} master_ids == {sorted(expected)}")

    def node_ids(self) -> list[str]:
        return [node.env["NODE_ID"] for node in self.nodes]

    def console_url(self, gateway: int = 0) -> str:
        return f"http://127.0.0.1:{self.gateways[gateway].http_port}/ui/"


_fleet: TokenFleet | None = None


def pytest_configure(config):
    unwind_on_sigterm()


@pytest.fixture(scope="session")
def fleet():
    global _fleet
    for _fleet in session_fleet(TokenFleet, "scripts/browser.sh", tag="browser"):
        yield _fleet
    _fleet = None


@pytest.fixture
def ensure_nodes(fleet):
    """Both nodes running (the resume test stops one)."""
    restarted = False
    for index, node in enumerate(fleet.nodes):
        if not node.alive():
            node.start()
            node.wait_healthy()
            restarted = True
    if restarted:
        fleet.wait_nodes_visible()
    return fleet


@pytest.fixture
def browser(ensure_nodes, request):
    """Headless Chromium at 1280×900 with its console log kept; after the test, no JavaScript
    error may be in it (failed network loads are expected where a test causes them)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    profile = tempfile.mkdtemp(prefix="wscenter-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    log: list[dict] = []
    driver.wscenter_log = log
    try:
        yield driver
        log.extend(driver.get_log("browser"))
        errors = [entry for entry in log if entry.get("level") == "SEVERE" and entry.get("source") != "network"]
        assert not errors, "JavaScript errors in the browser log:\n" + "\n".join(entry["message"] for entry in errors)
    finally:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _fleet is not None:
        report.sections.append(("wscenter stderr tails", _fleet.tails()))
