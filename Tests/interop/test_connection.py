"""Connecting: the open frame, app-key / protocol / limit errors with exact close codes, ping,
channel-name validation and private-channel auth failures (raw frames over `websockets`)."""

import json

import pytest

from interop_support import APP1, APP3, APP4, SOCKET_ID_RE, RawClient, channel_auth, decode_data, poll, unique


def test_connection_established_frame_on_both_nodes(clients):
    socket_ids = []
    for node in (0, 1):
        client = clients.raw(node, established=False)
        message = client.wait_for("pusher:connection_established")
        assert set(message) >= {"event", "data"}
        assert isinstance(message["data"], str), f"data must be a JSON string, got {message['data']!r}"
        data = json.loads(message["data"])
        assert SOCKET_ID_RE.match(data["socket_id"]), data
        assert data["activity_timeout"] == 120, data
        socket_ids.append(data["socket_id"])
    assert socket_ids[0] != socket_ids[1]


def _expect_refused(client: RawClient, code: int) -> None:
    error = client.wait_for("pusher:error")
    data = decode_data(error)
    assert isinstance(data, dict) and data.get("code") == code, f"expected pusher:error {code}, got {error}"
    assert client.wait_closed() == code, f"close code {client.close_code} ({client.close_reason!r}), expected {code}"
    assert not client.find("pusher:connection_established"), client.history


def test_unknown_app_key_is_refused_with_4001(clients):
    _expect_refused(clients.raw(0, key="no-such-key", established=False), 4001)


def test_disabled_app_is_refused_with_4003(clients):
    _expect_refused(clients.raw(1, key=APP3["key"], established=False), 4003)


@pytest.mark.parametrize("protocol", [4, 8])
def test_unsupported_protocol_is_refused_with_4007(clients, protocol):
    _expect_refused(clients.raw(0, protocol=protocol, established=False), 4007)


def test_ping_gets_pong(clients):
    for node in (0, 1):
        client = clients.raw(node)
        pong = client.ping()
        assert pong["event"] == "pusher:pong"


def test_max_connections_is_fleet_wide(clients):
    first = clients.raw(0, key=APP4["key"])
    second = clients.raw(1, key=APP4["key"])
    third = clients.raw(0, key=APP4["key"], established=False, label="third")
    _expect_refused(third, 4100)
    # The two admitted connections still work.
    first.ping()
    second.ping()


def test_max_connections_frees_a_slot_when_one_leaves(clients):
    first = clients.raw(0, key=APP4["key"])
    second = clients.raw(1, key=APP4["key"])
    second.close()

    def admitted():
        client = clients.raw(1, key=APP4["key"], established=False, label="retry")
        client.wait_for(None, where=lambda m: m["event"] in ("pusher:connection_established", "pusher:error"))
        if client.find("pusher:connection_established"):
            return client
        client.close()
        return None

    replacement = poll(admitted, timeout=5, interval=0.2, what="a connection of app 4 after one of two left")
    replacement.ping()
    first.ping()


@pytest.mark.parametrize("channel", ["bad channel!", "x" * 201])
def test_invalid_channel_name_is_4009_and_connection_stays_usable(clients, channel):
    client = clients.raw(0)
    start = client.subscribe(channel)
    error = client.wait_for("pusher:error", start=start)
    assert decode_data(error).get("code") == 4009, error
    assert not client.find("pusher_internal:subscription_succeeded"), client.history
    client.ping()
    assert not client.closed.is_set()
    # and it can still subscribe to a good channel
    good = unique("public-")
    assert client.subscribe_ok(good)["event"] == "pusher_internal:subscription_succeeded"


def test_private_channel_with_bad_auth_is_refused_and_gets_nothing(clients, rest):
    channel = unique("private-")
    client = clients.raw(1)
    start = client.subscribe(channel, auth=f"{APP1['key']}:{'0' * 64}")
    error = client.wait_for("pusher:subscription_error", channel, start=start)
    data = decode_data(error)
    assert data.get("type") == "AuthError", error
    assert data.get("status") == 401, error
    assert isinstance(data.get("error"), str) and data["error"], error
    assert not client.find("pusher_internal:subscription_succeeded", channel)

    # A correctly signed subscriber on the other node proves the trigger is delivered.
    witness = clients.raw(0)
    assert witness.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    rest(0).trigger(channel, "secret-news", {"n": 1})
    witness.wait_for("secret-news", channel)
    client.assert_none("secret-news", channel, during=0.5)
    client.ping()


def test_private_auth_signed_for_another_socket_is_refused(clients):
    channel = unique("private-")
    other = clients.raw(0)
    client = clients.raw(0)
    start = client.subscribe(channel, auth=channel_auth(APP1, other.socket_id, channel))
    error = client.wait_for("pusher:subscription_error", channel, start=start)
    assert decode_data(error).get("status") == 401, error


@pytest.mark.parametrize("protocol", [5, 6, 7])
def test_supported_protocols_are_accepted(clients, protocol):
    client = clients.raw(1, protocol=protocol, established=False)
    client.established()
    assert SOCKET_ID_RE.match(client.socket_id)
    client.ping()


@pytest.mark.parametrize("frame", [
    "not json",
    "[1, 2]",
    '{"data": {}}',
    '{"event": 42}',
    '{"event": "pusher:subscribe"}',
    '{"event": "pusher:subscribe", "data": {"no": "channel"}}',
])
def test_malformed_frame_is_an_error_and_connection_stays_usable(clients, frame):
    client = clients.raw(0)
    start = client.mark()
    client.send_raw(frame)
    error = client.wait_for("pusher:error", start=start)
    code = decode_data(error).get("code")
    assert isinstance(code, int) and 4000 <= code <= 4999, error
    client.ping()
    assert not client.closed.is_set()


def test_unsubscribe_stops_delivery_and_counts(clients, rest):
    channel = unique("unsub-")
    leaving = clients.raw(0, label="leaving")
    staying = clients.raw(1, label="staying")
    for client in (leaving, staying):
        assert client.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    assert rest(0).channel_info(channel, ["subscription_count"])["subscription_count"] == 2
    leaving.send("pusher:unsubscribe", {"channel": channel})
    poll(lambda: rest(1).channel_info(channel, ["subscription_count"])["subscription_count"] == 1,
         what="subscription_count 1 after unsubscribe")
    rest(1).trigger(channel, "after", {})
    staying.wait_for("after", channel)
    leaving.assert_none("after", channel, during=0.5)
