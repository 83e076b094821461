"""Apps are isolated: the same channel name in app 1 and app 2 shares no events, members or counts."""

from interop_support import APP1, APP2, decode_data, unique


def test_same_channel_name_in_two_apps_never_mixes(clients, rest):
    channel = unique("shared-")
    app1 = [clients.raw(node, key=APP1["key"], label=f"app1@{node}") for node in (0, 1)]
    app2 = [clients.raw(node, key=APP2["key"], label=f"app2@{node}") for node in (1, 0, 1)]
    for client in app1:
        assert client.subscribe_ok(channel, app=APP1)["event"] == "pusher_internal:subscription_succeeded"
    for client in app2:
        assert client.subscribe_ok(channel, app=APP2)["event"] == "pusher_internal:subscription_succeeded"

    rest(0, app=APP1).trigger(channel, "for-app1", {"app": 1})
    rest(1, app=APP2).trigger(channel, "for-app2", {"app": 2})
    for client in app1:
        assert decode_data(client.wait_for("for-app1", channel)) == {"app": 1}
    for client in app2:
        assert decode_data(client.wait_for("for-app2", channel)) == {"app": 2}
    for client in app1:
        client.assert_none("for-app2", during=0.3)
    for client in app2:
        client.assert_none("for-app1", during=0)

    assert rest(1, app=APP1).channel_info(channel, ["subscription_count"])["subscription_count"] == 2
    assert rest(0, app=APP2).channel_info(channel, ["subscription_count"])["subscription_count"] == 3
    assert channel in rest(0, app=APP1).channels_info(prefix_filter="shared-")["channels"]
    assert channel in rest(0, app=APP2).channels_info(prefix_filter="shared-")["channels"]
    only_app1 = unique("only1-")
    clients.raw(0).subscribe_ok(only_app1)
    assert only_app1 in rest(1, app=APP1).channels_info(prefix_filter="only1-")["channels"]
    assert rest(1, app=APP2).channels_info(prefix_filter="only1-")["channels"] == {}


def test_presence_members_do_not_cross_apps(clients, rest):
    channel = unique("presence-iso-")
    one = clients.raw(0, key=APP1["key"])
    two = clients.raw(1, key=APP2["key"])
    got1 = one.subscribe_ok(channel, app=APP1, user={"user_id": "in-app-1", "user_info": {}})
    got2 = two.subscribe_ok(channel, app=APP2, user={"user_id": "in-app-2", "user_info": {}})
    assert decode_data(got1)["presence"]["ids"] == ["in-app-1"]
    assert decode_data(got2)["presence"]["ids"] == ["in-app-2"], got2
    one.assert_none("pusher_internal:member_added", during=0.3)
    assert rest(0, app=APP1).users_info(channel) == {"users": [{"id": "in-app-1"}]}
    assert rest(1, app=APP2).users_info(channel) == {"users": [{"id": "in-app-2"}]}


def test_client_events_do_not_cross_apps(clients):
    channel = unique("private-iso-")
    sender = clients.raw(0, key=APP1["key"])
    same_app = clients.raw(1, key=APP1["key"])
    other_app = clients.raw(1, key=APP2["key"])
    sender.subscribe_ok(channel, app=APP1)
    same_app.subscribe_ok(channel, app=APP1)
    other_app.subscribe_ok(channel, app=APP2)
    sender.send("client-x", {"y": 1}, channel=channel)
    same_app.wait_for("client-x", channel)
    other_app.assert_none("client-x", during=0.5)


def test_users_do_not_cross_apps(clients, rest):
    user = unique("same-id-")
    in_app1 = clients.raw(0, key=APP1["key"])
    in_app2 = clients.raw(1, key=APP2["key"])
    for client, app in ((in_app1, APP1), (in_app2, APP2)):
        start = client.signin({"id": user}, app=app)
        client.wait_for("pusher:signin_success", start=start)
    rest(0, app=APP2).terminate_user_connections(user)
    assert in_app2.wait_closed() == 4009
    in_app1.assert_none("pusher:error", during=0.5)
    in_app1.ping()
