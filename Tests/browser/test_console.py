"""The admin console at /ui/ in headless Chromium, against a fleet of 2 nodes + 2 gateways.

Each test opens a fresh browser (a fresh sessionStorage: the token is asked for again) and
fails if the page logged a JavaScript error (see conftest.py).
"""

from __future__ import annotations

import os
import secrets

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from conftest import TOKEN

WAIT = 15


def wait(driver, condition, timeout: float = WAIT, what: str = ""):
    return WebDriverWait(driver, timeout).until(condition, message=what)


def text_of(driver, selector: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, selector).text


def sign_in(driver, fleet, token: str = TOKEN, gateway: int = 0, view: str = "fleet") -> None:
    """Opens the console on `view`; the gateway asks for a token, which is typed in."""
    driver.get(fleet.console_url(gateway) + f"#/{view}")
    field = wait(driver, EC.visibility_of_element_located((By.ID, "token-input")), what="the token prompt")
    field.clear()
    field.send_keys(token)
    field.send_keys(Keys.ENTER)


def screenshot(driver, name: str) -> None:
    """Saves the view to $SCREENSHOTS/<name>.png when SCREENSHOTS is set (`make screenshots`)."""
    directory = os.environ.get("SCREENSHOTS")
    if directory:
        os.makedirs(directory, exist_ok=True)
        driver.save_screenshot(os.path.join(directory, f"{name}.png"))


def go(driver, view: str) -> None:
    """Switches view by its navigation link, as a user would (the page is not reloaded)."""
    driver.find_element(By.ID, f"nav-{view}").click()
    wait(driver, lambda d: d.find_element(By.ID, f"nav-{view}").get_attribute("aria-current") == "page", what=f"the {view} view")


def connect_tester(driver, node_port: int, delay_ms: int | None = None) -> str:
    """Opens a native connection from the tester to the node; returns its connection id."""
    go(driver, "tester")
    Select(driver.find_element(By.ID, "tester-protocol")).select_by_value("native")
    url = driver.find_element(By.ID, "tester-url")
    url.clear()
    url.send_keys(f"ws://127.0.0.1:{node_port}/")
    if delay_ms is not None:
        field = driver.find_element(By.ID, "tester-delay")
        field.clear()
        field.send_keys(str(delay_ms))
    driver.find_element(By.ID, "tester-connect").click()
    wait(driver, lambda d: text_of(d, "#tester-state").strip().lower() == "open", what="the tester's connection opens")
    return wait(driver, lambda d: text_of(d, "#tester-id").strip(), what="the tester shows its connection id")


def log_lines(driver) -> list[str]:
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#tester-log li")]


def test_fleet_view_lists_both_nodes_and_the_broker(browser, fleet):
    sign_in(browser, fleet)
    for node in fleet.node_ids():
        wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, f'#fleet-nodes tr[data-node="{node}"]')),
             what=f"node {node} in the fleet view")
    rows = browser.find_elements(By.CSS_SELECTOR, "#fleet-nodes tr[data-node]")
    assert sorted(row.get_attribute("data-node") for row in rows) == sorted(fleet.node_ids())
    for row in rows:
        # The full id is shown, and the address clients connect to.
        node = row.get_attribute("data-node")
        port = fleet.nodes[fleet.node_ids().index(node)].port
        assert node in row.text and f"127.0.0.1:{port}" in row.text, row.text
    wait(browser, lambda d: "redis" in text_of(d, "#redis-status").lower(), what="the broker's status")
    assert not browser.find_element(By.ID, "error-banner").is_displayed()
    # The chart is redrawn every second without a reload: its markup changes.
    first = browser.find_element(By.CSS_SELECTOR, "#fleet-chart").get_attribute("innerHTML")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#fleet-chart").get_attribute("innerHTML") != first,
         timeout=5, what="the chart updates")
    assert browser.execute_script("return sessionStorage.getItem('wscenter.token')") == TOKEN
    screenshot(browser, "fleet")


def test_a_bad_token_shows_an_error(browser, fleet):
    sign_in(browser, fleet, token="not-the-token")
    banner = wait(browser, EC.visibility_of_element_located((By.ID, "error-banner")), what="an error for the bad token")
    wait(browser, lambda d: "401" in banner.text and "token" in banner.text.lower(), what=f"the error says 401 and token: {banner.text!r}")
    # The prompt is offered again, and the right token clears the error.
    field = wait(browser, EC.visibility_of_element_located((By.ID, "token-input")), what="the token prompt again")
    field.clear()
    field.send_keys(TOKEN)
    field.send_keys(Keys.ENTER)
    wait(browser, lambda d: not d.find_element(By.ID, "error-banner").is_displayed(), what="the error clears")
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#fleet-nodes tr[data-node]")))


def test_a_message_from_the_console_reaches_the_tester(browser, fleet):
    sign_in(browser, fleet, view="tester")
    connection = connect_tester(browser, fleet.nodes[0].port)
    screenshot(browser, "tester")
    go(browser, "console")
    Select(browser.find_element(By.ID, "console-target")).select_by_value("connection")
    browser.find_element(By.ID, "console-to").send_keys(connection)
    text = f"hello-from-console-{secrets.token_hex(3)}"
    browser.find_element(By.ID, "console-message").send_keys(text)
    browser.find_element(By.ID, "console-send").click()
    # The answer per node: the owner delivered it (1), the other node 0.
    wait(browser, lambda d: fleet.node_ids()[0] in text_of(d, "#console-result"), what="the answer per node")
    wait(browser, lambda d: '"sendMessageTo_Id"' in text_of(d, "#console-raw"), what="the raw answer")
    screenshot(browser, "console")
    go(browser, "tester")
    wait(browser, lambda d: any(text in line for line in log_lines(d)), what="the message in the tester's log")
    assert text_of(browser, "#tester-state").strip().lower() == "open"


def test_the_tester_resumes_on_the_other_node_and_shows_the_missed_messages(browser, fleet):
    sign_in(browser, fleet, view="tester")
    # A reconnect delay long enough for the messages below to be sent while it is away.
    connect_tester(browser, fleet.nodes[0].port, delay_ms=3000)
    room = f"room:browser-{secrets.token_hex(3)}"
    field = browser.find_element(By.ID, "tester-room")
    field.clear()
    field.send_keys(room)
    browser.find_element(By.ID, "tester-join").click()
    wait(browser, lambda d: any("joined" in line and room in line for line in log_lines(d)), what="the join's reply")

    fleet.nodes[0].stop()  # SIGTERM: the node drains and hands its sessions over
    wait(browser, lambda d: text_of(d, "#tester-state").strip().lower() == "reconnecting", what="the tester notices the drop")
    missed = [f"missed-{index}-{secrets.token_hex(2)}" for index in range(2)]
    for text in missed:
        status, answer = fleet.api(f"event=sendToGroup&sendToGroup%5BgroupId%5D={room}&sendToGroup%5Bmsg%5D={text}", gateway=1)
        assert status == 200 and answer["code"] == 0, answer

    wait(browser, lambda d: any("resumed" in line and "missed 2" in line for line in log_lines(d)), timeout=20,
         what="the resume, with 2 missed messages")
    wait(browser, lambda d: text_of(d, "#tester-state").strip().lower() == "open")
    lines = log_lines(browser)
    resumed_at = next(index for index, line in enumerate(lines) if "resumed" in line)
    after = "\n".join(lines[resumed_at:])
    assert all(text in after for text in missed), after
    assert after.index(missed[0]) < after.index(missed[1]), "replayed in their order"
    screenshot(browser, "tester-resume")


def test_explorer_shows_users_connections_groups_and_pusher_apps(browser, fleet):
    sign_in(browser, fleet, view="tester")
    connection = connect_tester(browser, fleet.nodes[1].port)
    user = f"user-{secrets.token_hex(3)}"
    group = f"group-{secrets.token_hex(3)}"
    status, answer = fleet.api(
        f"event=bindId,joinGroupById&bindId%5Bid%5D={user}&bindId%5B_id%5D={connection}"
        f"&joinGroupById%5Bid%5D={user}&joinGroupById%5BgroupId%5D={group}")
    assert status == 200 and answer["code"] == 0, answer
    go(browser, "explorer")
    browser.find_element(By.ID, "explorer-refresh").click()
    button = wait(browser, lambda d: next((b for b in d.find_elements(By.CSS_SELECTOR, "#explorer-users button") if b.text.strip() == user), None),
                  what="the user in the explorer")
    assert any(connection in item.text for item in browser.find_elements(By.CSS_SELECTOR, "#explorer-connections button"))
    assert any(group in item.text for item in browser.find_elements(By.CSS_SELECTOR, "#explorer-groups button"))
    button.click()
    wait(browser, lambda d: connection in text_of(d, "#user-detail") and group in text_of(d, "#user-detail"),
         what="the user's connections and groups")
    wait(browser, lambda d: "app-key" in text_of(d, "#pusher-apps") or "key" in text_of(d, "#pusher-apps").lower(),
         what="the Pusher apps")
    screenshot(browser, "explorer")


def test_the_console_is_usable_at_phone_width(browser, fleet):
    browser.set_window_size(390, 844)
    sign_in(browser, fleet)
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#fleet-nodes tr[data-node]")))
    # Nothing wider than the screen: no horizontal scrolling of the page.
    width = browser.execute_script("return document.documentElement.scrollWidth")
    viewport = browser.execute_script("return window.innerWidth")
    assert width <= viewport + 1, f"the page is {width} px wide in a {viewport} px window"
    # Every control has a label a screen reader can read.
    unlabelled = browser.execute_script("""
        return [...document.querySelectorAll('input, select, textarea')]
          .filter(e => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
          .map(e => e.id || e.name || e.outerHTML.slice(0, 60));
    """)
    assert unlabelled == [], unlabelled
    screenshot(browser, "phone")
