"""pysher (a third-party Python Pusher client) and the official `pusher` server SDK together,
across both nodes and both gateways."""

import json

from interop_support import decode_data, poll, unique


def test_public_channel_receives_rest_triggers_from_either_gateway(clients, rest):
    channel = unique("news-")
    subscribers = [clients.pysher(0), clients.pysher(1)]
    for subscriber in subscribers:
        got = subscriber.subscribe_ok(channel)
        assert got["event"] == "pusher_internal:subscription_succeeded", got

    rest(0).trigger(channel, "headline", {"via": "gateway0", "n": 1})
    rest(1).trigger(channel, "headline", {"via": "gateway1", "n": 2})

    for subscriber in subscribers:
        events = subscriber.wait_count(2, "headline", channel)
        payloads = sorted((decode_data(e) for e in events), key=lambda d: d["n"])
        assert payloads == [{"via": "gateway0", "n": 1}, {"via": "gateway1", "n": 2}], events
    for subscriber in subscribers:
        subscriber.assert_count_stays(2, "headline", channel, during=0.3)  # no duplicates


def test_pysher_channel_bind_callback_gets_the_data(clients, rest):
    channel = unique("bind-")
    received = []
    client = clients.pysher(1)
    client.subscribe(channel).bind("tick", received.append)
    client.wait_for("pusher_internal:subscription_succeeded", channel)
    rest(1).trigger(channel, "tick", "plain text payload")
    client.wait_for("tick", channel)
    # The harness records a frame before pysher runs the channel's callbacks (on its own
    # thread): wait for the callback, not just for the frame.
    poll(lambda: received == ["plain text payload"], what="the bound callback")
    assert received == ["plain text payload"]


def test_pysher_private_channel(clients, rest):
    channel = unique("private-")
    client = clients.pysher(0)
    got = client.subscribe_ok(channel)
    assert got["event"] == "pusher_internal:subscription_succeeded", got
    rest(1).trigger(channel, "secret", {"ok": True})
    assert decode_data(client.wait_for("secret", channel)) == {"ok": True}


def test_pysher_presence_channel_across_nodes(clients):
    channel = unique("presence-")
    alice = clients.pysher(0, user_data={"user_id": "alice", "user_info": {"name": "Alice"}}, label="alice")
    got = alice.subscribe_ok(channel)
    assert got["event"] == "pusher_internal:subscription_succeeded", got
    assert decode_data(got)["presence"]["ids"] == ["alice"]

    bob = clients.pysher(1, user_data={"user_id": "bob", "user_info": {"name": "Bob"}}, label="bob")
    got = bob.subscribe_ok(channel)
    presence = decode_data(got)["presence"]
    assert sorted(presence["ids"]) == ["alice", "bob"], presence
    assert presence["count"] == 2
    assert presence["hash"] == {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}}

    added = alice.wait_for("pusher_internal:member_added", channel)
    assert decode_data(added) == {"user_id": "bob", "user_info": {"name": "Bob"}}

    bob.close()
    removed = alice.wait_for("pusher_internal:member_removed", channel)
    assert decode_data(removed) == {"user_id": "bob"}


def test_pysher_client_events_between_nodes(clients):
    channel = unique("private-")
    sender = clients.pysher(0, label="sender")
    receiver = clients.pysher(1, label="receiver")
    sender_channel = sender.pusher.subscribe(channel)
    sender.wait_for("pusher_internal:subscription_succeeded", channel)
    receiver.subscribe_ok(channel)
    sender_channel.trigger("client-hello", {"from": "sender"})
    got = receiver.wait_for("client-hello", channel)
    assert decode_data(got) == {"from": "sender"}
    sender.assert_none("client-hello", channel, during=0.5)


def test_sdk_authenticate_output_is_accepted(clients, rest):
    sdk = rest(0)
    client = clients.raw(1)

    private = unique("private-")
    signed = sdk.authenticate(channel=private, socket_id=client.socket_id)
    start = client.subscribe(private, auth=signed["auth"])
    got = client.wait_for(None, private, start=start,
                          where=lambda m: m["event"].startswith(("pusher_internal:subscription", "pusher:subscription")))
    assert got["event"] == "pusher_internal:subscription_succeeded", got

    presence = unique("presence-")
    signed = sdk.authenticate(channel=presence, socket_id=client.socket_id,
                              custom_data={"user_id": "sdk-user", "user_info": {"role": "tester"}})
    start = client.subscribe(presence, auth=signed["auth"], channel_data=signed["channel_data"])
    got = client.wait_for(None, presence, start=start,
                          where=lambda m: m["event"].startswith(("pusher_internal:subscription", "pusher:subscription")))
    assert got["event"] == "pusher_internal:subscription_succeeded", got
    assert decode_data(got)["presence"]["hash"] == {"sdk-user": {"role": "tester"}}

    # and a REST trigger reaches the SDK-authorised private subscription
    rest(1).trigger(private, "after-auth", json.dumps({"x": 1}))
    assert decode_data(client.wait_for("after-auth", private)) == {"x": 1}
