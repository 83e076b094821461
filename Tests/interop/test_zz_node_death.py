"""A node killed with SIGKILL: its presence members vanish for the rest of the fleet within the
heartbeat TTL (1.5 s here) plus the janitor's round. Runs last (file order); restores the node."""

import signal

from interop_support import decode_data, poll, unique


def test_sigkilled_node_members_are_removed(clients, rest, fleet):
    channel = unique("presence-")
    public = unique("alive-")
    watcher = clients.raw(0, label="watcher")
    assert watcher.subscribe_ok(channel, user={"user_id": "survivor", "user_info": {}})["event"] == \
        "pusher_internal:subscription_succeeded"
    doomed = clients.raw(1, label="doomed")
    assert doomed.subscribe_ok(channel, user={"user_id": "doomed", "user_info": {"on": "node1"}})["event"] == \
        "pusher_internal:subscription_succeeded"
    # a user connected on both nodes stays a member when one node dies
    both_0 = clients.raw(0, label="both@0")
    both_1 = clients.raw(1, label="both@1")
    for client in (both_0, both_1):
        assert client.subscribe_ok(channel, user={"user_id": "both", "user_info": {}})["event"] == \
            "pusher_internal:subscription_succeeded"
    for client in (clients.raw(0), clients.raw(1)):
        client.subscribe_ok(public)

    watcher.wait_count(2, "pusher_internal:member_added", channel)
    assert sorted(u["id"] for u in rest(0).users_info(channel)["users"]) == ["both", "doomed", "survivor"]
    assert rest(1).channel_info(public, ["subscription_count"])["subscription_count"] == 2

    fleet.nodes[1].kill(signal.SIGKILL)
    doomed.wait_closed(timeout=5)

    removed = watcher.wait_for("pusher_internal:member_removed", channel, timeout=6)
    assert decode_data(removed) == {"user_id": "doomed"}, removed
    watcher.assert_none("pusher_internal:member_removed", channel,
                        where=lambda m: decode_data(m)["user_id"] == "both", during=1.0)

    for gateway in (0, 1):
        poll(lambda g=gateway: sorted(u["id"] for u in rest(g).users_info(channel)["users"]) == ["both", "survivor"],
             timeout=5, what=f"gateway{gateway} users_info without the dead node's member")
        info = rest(gateway).channel_info(channel, ["user_count", "subscription_count"])
        assert info["user_count"] == 2, info
        assert info["subscription_count"] == 2, info
        public_info = rest(gateway).channel_info(public, ["subscription_count"])
        assert public_info["subscription_count"] == 1, public_info

    # the survivors still get REST triggers
    rest(1).trigger(channel, "after-death", {"ok": True})
    watcher.wait_for("after-death", channel)
    both_0.wait_for("after-death", channel)


def test_replacement_node_joins_the_fleet(clients, rest, fleet):
    # `clients` restarted node 1 if it was dead (ensure_nodes)
    channel = unique("presence-")
    a = clients.raw(0)
    b = clients.raw(1)
    a.subscribe_ok(channel, user={"user_id": "a", "user_info": {}})
    got = b.subscribe_ok(channel, user={"user_id": "b", "user_info": {}})
    assert sorted(decode_data(got)["presence"]["ids"]) == ["a", "b"], got
    a.wait_for("pusher_internal:member_added", channel)
    rest(0).trigger(channel, "hello", {})
    b.wait_for("hello", channel)
