"""Presence channels across the fleet: member lists, member_added / member_removed, one member
per user whatever its connections, the app-2 member limit, user_id / user_info limits."""

from interop_support import APP2, decode_data, poll, unique


def _presence(message):
    assert message["event"] == "pusher_internal:subscription_succeeded", message
    return decode_data(message)["presence"]


def test_member_list_covers_both_nodes(clients, rest):
    channel = unique("presence-")
    members = {"u1": {"n": 1}, "u2": {"n": 2}, "u3": {"n": 3}}
    c1 = clients.raw(0)
    assert _presence(c1.subscribe_ok(channel, user={"user_id": "u1", "user_info": members["u1"]}))["count"] == 1
    c2 = clients.raw(1)
    _presence(c2.subscribe_ok(channel, user={"user_id": "u2", "user_info": members["u2"]}))
    c3 = clients.raw(0)
    presence = _presence(c3.subscribe_ok(channel, user={"user_id": "u3", "user_info": members["u3"]}))
    assert sorted(presence["ids"]) == ["u1", "u2", "u3"], presence
    assert presence["hash"] == members, presence
    assert presence["count"] == 3, presence

    # member_added reaches subscribers on both nodes
    for watcher in (c1, c2):
        added = watcher.wait_for("pusher_internal:member_added", channel,
                                 where=lambda m: decode_data(m)["user_id"] == "u3")
        assert decode_data(added) == {"user_id": "u3", "user_info": {"n": 3}}
    c3.assert_none("pusher_internal:member_added", channel, during=0.3)

    # REST through either gateway sees the whole fleet
    for gateway in (0, 1):
        users = rest(gateway).users_info(channel)
        assert sorted(u["id"] for u in users["users"]) == ["u1", "u2", "u3"], users
        info = rest(gateway).channel_info(channel, ["user_count"])
        assert info["occupied"] is True and info["user_count"] == 3, info

    # member_removed reaches the other node
    c2.close()
    for watcher in (c1, c3):
        removed = watcher.wait_for("pusher_internal:member_removed", channel)
        assert decode_data(removed) == {"user_id": "u2"}
    poll(lambda: sorted(u["id"] for u in rest(1).users_info(channel)["users"]) == ["u1", "u3"],
         what="users_info without u2")


def test_user_with_two_connections_on_two_nodes_is_one_member(clients, rest):
    channel = unique("presence-")
    watcher = clients.raw(0, label="watcher")
    _presence(watcher.subscribe_ok(channel, user={"user_id": "w", "user_info": {}}))

    same_user = {"user_id": "twice", "user_info": {"k": "v"}}
    first = clients.raw(0, label="twice@0")
    _presence(first.subscribe_ok(channel, user=same_user))
    watcher.wait_for("pusher_internal:member_added", channel)
    second = clients.raw(1, label="twice@1")
    presence = _presence(second.subscribe_ok(channel, user=same_user))
    assert sorted(presence["ids"]) == ["twice", "w"], presence
    assert presence["count"] == 2, presence

    # one member_added only, one member in REST
    watcher.assert_count_stays(1, "pusher_internal:member_added", channel, during=0.5)
    for gateway in (0, 1):
        users = rest(gateway).users_info(channel)
        assert sorted(u["id"] for u in users["users"]) == ["twice", "w"], users
        info = rest(gateway).channel_info(channel, ["user_count", "subscription_count"])
        assert info["user_count"] == 2, info
        assert info["subscription_count"] == 3, info

    # leaving one of two connections does not remove the member
    first.close()
    watcher.assert_none("pusher_internal:member_removed", channel, during=1.0)
    assert sorted(u["id"] for u in rest(0).users_info(channel)["users"]) == ["twice", "w"]

    # leaving the last one does
    second.close()
    removed = watcher.wait_for("pusher_internal:member_removed", channel)
    assert decode_data(removed) == {"user_id": "twice"}
    watcher.assert_count_stays(1, "pusher_internal:member_removed", channel, during=0.3)
    poll(lambda: [u["id"] for u in rest(1).users_info(channel)["users"]] == ["w"], what="users_info == [w]")


def test_unsubscribe_removes_member(clients):
    channel = unique("presence-")
    watcher = clients.raw(1)
    _presence(watcher.subscribe_ok(channel, user={"user_id": "stay", "user_info": {}}))
    leaver = clients.raw(0)
    _presence(leaver.subscribe_ok(channel, user={"user_id": "go", "user_info": {}}))
    watcher.wait_for("pusher_internal:member_added", channel)
    leaver.send("pusher:unsubscribe", {"channel": channel})
    removed = watcher.wait_for("pusher_internal:member_removed", channel)
    assert decode_data(removed) == {"user_id": "go"}


def test_app2_presence_limit_of_three_members(clients, rest):
    channel = unique("presence-")
    admitted = []
    for index, user in enumerate(["m1", "m2", "m3"]):
        client = clients.raw(index % 2, key=APP2["key"], label=user)
        _presence(client.subscribe_ok(channel, app=APP2, user={"user_id": user, "user_info": {}}))
        admitted.append(client)

    fourth = clients.raw(1, key=APP2["key"], label="m4")
    got = fourth.subscribe_ok(channel, app=APP2, user={"user_id": "m4", "user_info": {}})
    assert got["event"] == "pusher:subscription_error", got
    data = decode_data(got)
    assert data.get("status") == 403, got
    assert data.get("type") == "LimitReached", got

    # the refused user is no member anywhere
    users = rest(0, app=APP2).users_info(channel)
    assert sorted(u["id"] for u in users["users"]) == ["m1", "m2", "m3"], users
    for client in admitted:
        client.assert_none("pusher_internal:member_added", channel,
                           where=lambda m: decode_data(m)["user_id"] == "m4", during=0.2)


def test_user_id_over_128_chars_is_refused_with_400(clients):
    client = clients.raw(0)
    got = client.subscribe_ok(unique("presence-"), user={"user_id": "u" * 129, "user_info": {}})
    assert got["event"] == "pusher:subscription_error", got
    assert decode_data(got).get("status") == 400, got


def test_user_id_of_128_chars_is_accepted(clients):
    client = clients.raw(0)
    got = client.subscribe_ok(unique("presence-"), user={"user_id": "u" * 128, "user_info": {}})
    assert got["event"] == "pusher_internal:subscription_succeeded", got


def test_user_info_over_1kb_is_refused_with_400(clients):
    client = clients.raw(1)
    got = client.subscribe_ok(unique("presence-"), user={"user_id": "big", "user_info": {"blob": "x" * 1100}})
    assert got["event"] == "pusher:subscription_error", got
    assert decode_data(got).get("status") == 400, got

