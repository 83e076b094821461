"""Client events (`client-*`): relayed to subscribers on both nodes, never echoed, carrying the
user_id on presence channels, refused on public channels, rate limited to 10 per second."""

import json

from interop_support import APP2, decode_data, unique


def test_private_client_event_reaches_both_nodes_not_the_sender(clients):
    channel = unique("private-")
    sender = clients.raw(0, label="sender")
    local = clients.raw(0, label="local")
    remote = clients.raw(1, label="remote")
    for client in (sender, local, remote):
        assert client.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"

    sender.send("client-move", {"x": 1, "y": 2}, channel=channel)
    for receiver in (local, remote):
        got = receiver.wait_for("client-move", channel)
        assert decode_data(got) == {"x": 1, "y": 2}, got
        assert "user_id" not in got, got
    sender.assert_none("client-move", channel, during=0.5)
    sender.assert_none("pusher:error", during=0)


def test_presence_client_event_carries_user_id(clients):
    channel = unique("presence-")
    sender = clients.raw(1, label="sender")
    receiver = clients.raw(0, label="receiver")
    assert sender.subscribe_ok(channel, user={"user_id": "talker", "user_info": {}})["event"] == \
        "pusher_internal:subscription_succeeded"
    assert receiver.subscribe_ok(channel, user={"user_id": "listener", "user_info": {}})["event"] == \
        "pusher_internal:subscription_succeeded"
    sender.send("client-say", {"text": "hi"}, channel=channel)
    got = receiver.wait_for("client-say", channel)
    assert got.get("user_id") == "talker", got
    assert decode_data(got) == {"text": "hi"}
    sender.assert_none("client-say", channel, during=0.5)


def test_app2_client_events_between_nodes(clients):
    channel = unique("private-")
    sender = clients.raw(0, key=APP2["key"])
    receiver = clients.raw(1, key=APP2["key"])
    for client in (sender, receiver):
        assert client.subscribe_ok(channel, app=APP2)["event"] == "pusher_internal:subscription_succeeded"
    sender.send("client-ping", "text data", channel=channel)
    assert receiver.wait_for("client-ping", channel)["data"] == "text data"


def test_client_event_on_public_channel_is_4009(clients):
    channel = unique("public-")
    sender = clients.raw(0)
    receiver = clients.raw(1)
    for client in (sender, receiver):
        assert client.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    start = sender.mark()
    sender.send("client-nope", {"a": 1}, channel=channel)
    error = sender.wait_for("pusher:error", start=start)
    assert decode_data(error).get("code") == 4009, error
    receiver.assert_none("client-nope", channel, during=0.5)
    sender.ping()


def test_client_event_on_unsubscribed_channel_is_not_relayed(clients):
    channel = unique("private-")
    outsider = clients.raw(0, label="outsider")
    receiver = clients.raw(1, label="receiver")
    assert receiver.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    outsider.send("client-sneak", {"a": 1}, channel=channel)
    receiver.assert_none("client-sneak", channel, during=0.7)


def test_client_event_rate_limit_4301(clients):
    channel = unique("private-")
    sender = clients.raw(0, label="sender")
    receiver = clients.raw(1, label="receiver")
    for client in (sender, receiver):
        assert client.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    start = sender.mark()
    total = 15
    # One write: the node reads the whole burst at once, whatever the load on this machine.
    sender.send_burst([json.dumps({"event": "client-burst", "channel": channel, "data": {"n": n}}) for n in range(total)])

    errors = sender.wait_count(1, "pusher:error", where=lambda m: decode_data(m).get("code") == 4301)
    sender.ping()  # the connection stays usable, and every burst frame has been handled
    receiver.wait_count(10, "client-burst", channel)
    receiver.assert_count_stays(len(receiver.find("client-burst", channel)), "client-burst", channel, during=0.5)
    delivered = receiver.find("client-burst", channel)
    errors = sender.find("pusher:error", start=start, where=lambda m: decode_data(m).get("code") == 4301)
    assert 10 <= len(delivered) <= 11, f"{len(delivered)} of {total} delivered: {delivered}"
    assert len(errors) == total - len(delivered), f"{len(errors)} errors for {total - len(delivered)} refused"
    # the first ten went through, in order
    assert [decode_data(m)["n"] for m in delivered][:10] == list(range(10))
