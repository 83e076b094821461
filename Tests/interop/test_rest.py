"""The Pusher REST API through either gateway with the official `pusher` SDK: triggers,
batches, channel and user queries with fleet-wide counts, and the error statuses."""

import json
import time

import pusher.errors
import pytest

from interop_support import APP1, APP2, APP3, decode_data, poll, signed_request, unique


def _subscribed(clients, node, channel, app=APP1, user=None):
    client = clients.raw(node, key=app["key"])
    got = client.subscribe_ok(channel, app=app, user=user)
    assert got["event"] == "pusher_internal:subscription_succeeded", got
    return client


@pytest.mark.parametrize("gateway", [0, 1])
def test_trigger_to_many_channels(clients, rest, gateway):
    channels = [unique("multi-") for _ in range(3)]
    subscribers = {}
    for channel in channels:
        subscribers[channel] = [_subscribed(clients, node, channel) for node in (0, 1)]
    result = rest(gateway).trigger(channels, "fanout", {"gateway": gateway})
    assert isinstance(result, dict), result
    for channel, clients_of_channel in subscribers.items():
        for client in clients_of_channel:
            got = client.wait_for("fanout", channel)
            assert decode_data(got) == {"gateway": gateway}
            client.assert_count_stays(1, "fanout", during=0.2)  # only its own channel's copy


def test_trigger_with_socket_id_excludes_that_socket(clients, rest):
    channel = unique("excl-")
    excluded = _subscribed(clients, 0, channel)
    same_node = _subscribed(clients, 0, channel)
    other_node = _subscribed(clients, 1, channel)
    rest(1).trigger(channel, "not-for-you", {"a": 1}, socket_id=excluded.socket_id)
    for client in (same_node, other_node):
        client.wait_for("not-for-you", channel)
    excluded.assert_none("not-for-you", channel, during=0.5)

    # also when the excluded socket is on the other node than the gateway's first pick
    rest(0).trigger(channel, "not-for-you-2", {"a": 2}, socket_id=other_node.socket_id)
    excluded.wait_for("not-for-you-2", channel)
    same_node.wait_for("not-for-you-2", channel)
    other_node.assert_none("not-for-you-2", channel, during=0.5)


def test_trigger_batch(clients, rest):
    first, second = unique("batch-a-"), unique("batch-b-")
    client_a = _subscribed(clients, 0, first)
    client_b = _subscribed(clients, 1, second)
    rest(1).trigger_batch([
        {"channel": first, "name": "one", "data": {"n": 1}},
        {"channel": second, "name": "two", "data": {"n": 2}},
        {"channel": first, "name": "three", "data": "plain"},
    ])
    assert decode_data(client_a.wait_for("one", first)) == {"n": 1}
    assert client_a.wait_for("three", first)["data"] == "plain"
    assert decode_data(client_b.wait_for("two", second)) == {"n": 2}
    client_b.assert_none("one", during=0.3)
    events = [m["event"] for m in client_a.history if m.get("channel") == first and not m["event"].startswith("pusher")]
    assert events == ["one", "three"], events


def test_channels_info_with_prefix_and_counts(clients, rest):
    tag = unique("ci")
    public = f"{tag}-room"
    presence = f"presence-{tag}-room"
    for node in (0, 1, 1):
        _subscribed(clients, node, public)
    _subscribed(clients, 0, presence, user={"user_id": "p1", "user_info": {}})
    _subscribed(clients, 1, presence, user={"user_id": "p2", "user_info": {}})
    _subscribed(clients, 1, presence, user={"user_id": "p1", "user_info": {}})

    for gateway in (0, 1):
        sdk = rest(gateway)
        listed = sdk.channels_info(prefix_filter=f"{tag}-")
        assert set(listed["channels"]) == {public}, listed

        counted = sdk.channels_info(prefix_filter=f"presence-{tag}-", attributes=["user_count"])
        assert counted["channels"] == {presence: {"user_count": 2}}, counted

        subscriptions = sdk.channels_info(prefix_filter=f"{tag}-", attributes=["subscription_count"])
        assert subscriptions["channels"] == {public: {"subscription_count": 3}}, subscriptions

        everything = sdk.channels_info()
        assert {public, presence} <= set(everything["channels"]), everything


def test_channel_info_counts_are_fleet_wide(clients, rest):
    channel = unique("count-")
    subscribers = [_subscribed(clients, node, channel) for node in (0, 1, 0, 1)]
    for gateway in (0, 1):
        info = rest(gateway).channel_info(channel, ["subscription_count"])
        assert info == {"occupied": True, "subscription_count": 4}, info
    subscribers[1].close()
    poll(lambda: rest(0).channel_info(channel, ["subscription_count"])["subscription_count"] == 3,
         what="subscription_count 3 after one left")
    for client in subscribers:
        client.close()
    poll(lambda: rest(1).channel_info(channel)["occupied"] is False, what="channel unoccupied")


def test_channel_info_of_presence_and_unoccupied_channel(clients, rest):
    channel = unique("presence-")
    _subscribed(clients, 0, channel, user={"user_id": "x", "user_info": {}})
    _subscribed(clients, 1, channel, user={"user_id": "y", "user_info": {}})
    info = rest(1).channel_info(channel, ["user_count", "subscription_count"])
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 2}, info
    users = rest(0).users_info(channel)
    assert sorted(users["users"], key=lambda u: u["id"]) == [{"id": "x"}, {"id": "y"}], users

    empty = rest(0).channel_info(unique("nobody-"))
    assert empty.get("occupied") is False, empty
    assert rest(1).users_info(unique("presence-")) == {"users": []}


def test_bad_secret_is_401(rest):
    with pytest.raises(pusher.errors.PusherBadAuth):
        rest(0, secret="not-the-secret").trigger(unique("x-"), "e", {})
    with pytest.raises(pusher.errors.PusherBadAuth):
        rest(1, secret="not-the-secret").channels_info()


def test_unknown_app_id_is_404(rest):
    with pytest.raises(pusher.errors.PusherBadStatus, match=r"^404"):
        rest(0, app={"id": "999", "key": "app-key", "secret": "app-secret"}).trigger(unique("x-"), "e", {})


def test_disabled_app_is_403(rest):
    with pytest.raises(pusher.errors.PusherForbidden):
        rest(1, app=APP3).trigger(unique("x-"), "e", {})


def test_payload_over_10kb_is_413(rest, fleet):
    channel = unique("big-")
    # The SDK allows up to 30 KB per trigger: the server's 10 KB limit answers.
    with pytest.raises(pusher.errors.PusherBadStatus, match=r"^413"):
        rest(0).trigger(channel, "big", "x" * (11 * 1024))
    # Built by hand as well, through the other gateway.
    body = json.dumps({"name": "big", "channels": [channel], "data": "y" * (10 * 1024 + 100)}).encode()
    status, text = signed_request(fleet.gateways[1].http_port, "POST", f"/apps/{APP1['id']}/events", APP1, body=body)
    assert status == 413, (status, text)
    # just under the limit is fine
    rest(1).trigger(channel, "fits", "z" * (9 * 1024))


def test_batch_of_11_is_400(rest):
    batch = [{"channel": unique("b-"), "name": "e", "data": str(n)} for n in range(11)]
    with pytest.raises(pusher.errors.PusherBadRequest):
        rest(0).trigger_batch(batch)
    rest(0).trigger_batch(batch[:10])


def test_timestamp_off_by_700s_is_401(fleet):
    for gateway in fleet.gateways:
        path = f"/apps/{APP1['id']}/channels"
        status, body = signed_request(gateway.http_port, "GET", path, APP1, timestamp=int(time.time()) - 700)
        assert status == 401, (status, body)
        status, body = signed_request(gateway.http_port, "GET", path, APP1, timestamp=int(time.time()) + 700)
        assert status == 401, (status, body)
        status, body = signed_request(gateway.http_port, "GET", path, APP1)
        assert status == 200, (status, body)


def test_rest_for_app2_through_both_gateways(clients, rest):
    channel = unique("presence-")
    client = clients.raw(1, key=APP2["key"])
    assert client.subscribe_ok(channel, app=APP2, user={"user_id": "two", "user_info": {}})["event"] == \
        "pusher_internal:subscription_succeeded"
    for gateway in (0, 1):
        assert rest(gateway, app=APP2).users_info(channel) == {"users": [{"id": "two"}]}
    rest(0, app=APP2).trigger(channel, "for-two", {"ok": 1})
    assert decode_data(client.wait_for("for-two", channel)) == {"ok": 1}
