"""User authentication (`pusher:signin`), server-to-user channels, terminating a user's
connections on every node, and watchlists (raw frames; signatures made here)."""

import json

from interop_support import APP1, decode_data, signed_request, signin_auth, unique


def _signed_in(fleet_clients, node, user, label=None):
    client = fleet_clients.raw(node, label=label or f"{user['id']}@{node}")
    start = client.signin(user)
    success = client.wait_for(None, start=start,
                              where=lambda m: m["event"] in ("pusher:signin_success", "pusher:error"))
    assert success["event"] == "pusher:signin_success", success
    return client, success


def test_signin_success_echoes_user_data(clients):
    user = {"id": unique("user-"), "user_info": {"name": "Ann"}}
    _, success = _signed_in(clients, 0, user)
    data = decode_data(success)
    assert isinstance(data, dict) and "user_data" in data, success
    user_data = data["user_data"]
    if isinstance(user_data, str):
        user_data = json.loads(user_data)
    assert user_data == user, success


def test_signin_with_sdk_authenticate_user(clients, rest):
    client = clients.raw(1)
    user = {"id": unique("sdk-"), "name": "Via SDK"}
    signed = rest(0).authenticate_user(client.socket_id, user)
    start = client.mark()
    client.send("pusher:signin", {"auth": signed["auth"], "user_data": signed["user_data"]})
    got = client.wait_for(None, start=start,
                          where=lambda m: m["event"] in ("pusher:signin_success", "pusher:error"))
    assert got["event"] == "pusher:signin_success", got


def test_signin_with_bad_signature_is_4009(clients):
    client = clients.raw(0)
    user_data = json.dumps({"id": "mallory"})
    start = client.mark()
    client.send("pusher:signin", {"auth": f"{APP1['key']}:{'ab' * 32}", "user_data": user_data})
    error = client.wait_for(None, start=start,
                            where=lambda m: m["event"] in ("pusher:signin_success", "pusher:error"))
    assert error["event"] == "pusher:error", error
    assert decode_data(error).get("code") == 4009, error


def test_signin_signed_for_another_socket_is_4009(clients):
    other = clients.raw(1)
    client = clients.raw(0)
    user_data = json.dumps({"id": "copycat"})
    start = client.mark()
    client.send("pusher:signin", {"auth": signin_auth(APP1, other.socket_id, user_data), "user_data": user_data})
    error = client.wait_for(None, start=start,
                            where=lambda m: m["event"] in ("pusher:signin_success", "pusher:error"))
    assert error["event"] == "pusher:error" and decode_data(error).get("code") == 4009, error


def test_server_to_user_channel_receives_rest_triggers(clients, rest):
    user_id = unique("s2u-")
    client, _ = _signed_in(clients, 1, {"id": user_id})
    channel = f"#server-to-user-{user_id}"
    got = client.subscribe_ok(channel)
    assert got["event"] == "pusher_internal:subscription_succeeded", got

    rest(0).trigger(channel, "note", {"for": user_id})
    assert decode_data(client.wait_for("note", channel)) == {"for": user_id}
    rest(1).send_to_user(user_id, "dm", {"hello": True})
    assert decode_data(client.wait_for("dm", channel)) == {"hello": True}


def test_server_to_user_channel_of_another_user_is_refused(clients, rest):
    victim = unique("victim-")
    snoop, _ = _signed_in(clients, 0, {"id": unique("snoop-")})
    anonymous = clients.raw(1, label="anonymous")
    channel = f"#server-to-user-{victim}"
    for client in (snoop, anonymous):
        start = client.subscribe(channel)
        client.wait_for(None, start=start, where=lambda m: m["event"] in (
            "pusher:subscription_error", "pusher:error", "pusher_internal:subscription_succeeded"))
        assert not client.find("pusher_internal:subscription_succeeded", channel), client.history
    rest(0).send_to_user(victim, "private-mail", {"x": 1})
    snoop.assert_none("private-mail", during=0.5)
    anonymous.assert_none("private-mail", during=0)


def test_terminate_user_connections_on_both_nodes(clients, rest):
    target = unique("target-")
    bystander = unique("bystander-")
    doomed = [_signed_in(clients, node, {"id": target}, label=f"target@{node}")[0] for node in (0, 1)]
    survivors = [_signed_in(clients, 1, {"id": bystander})[0], clients.raw(0, label="anonymous")]

    rest(1).terminate_user_connections(target)

    for client in doomed:
        error = client.wait_for("pusher:error")
        assert decode_data(error).get("code") == 4009, error
        assert client.wait_closed() == 4009, f"close code {client.close_code} ({client.close_reason!r})"
    for client in survivors:
        client.assert_none("pusher:error", during=0.3)
        client.ping()


def test_terminate_user_connections_with_apps_prefix_path(clients, fleet):
    target = unique("target-")
    doomed = [_signed_in(clients, node, {"id": target}, label=f"target@{node}")[0] for node in (1, 0)]
    status, body = signed_request(fleet.gateways[0].http_port, "POST",
                                  f"/apps/{APP1['id']}/users/{target}/terminate_connections", APP1, body=b"{}")
    assert status == 200, (status, body)
    for client in doomed:
        assert client.wait_closed() == 4009, f"close code {client.close_code}; frames {client.history}"


def _watch_events(message):
    """{"online": {...}, "offline": {...}} of a watchlist_events frame."""
    result = {"online": set(), "offline": set()}
    for event in decode_data(message)["events"]:
        result[event["name"]].update(event["user_ids"])
    return result


def test_watchlist_online_and_offline(clients):
    a, b, c = unique("a-"), unique("b-"), unique("c-")
    _signed_in(clients, 0, {"id": c}, label="c")

    watcher = clients.raw(0, label="watcher")
    start = watcher.signin({"id": a, "watchlist": [b, c]})
    success = watcher.wait_for(None, start=start,
                               where=lambda m: m["event"] in ("pusher:signin_success", "pusher:error"))
    assert success["event"] == "pusher:signin_success", success
    initial = watcher.wait_for("pusher_internal:watchlist_events", start=start)
    assert watcher.history.index(success) < watcher.history.index(initial)
    state = _watch_events(initial)
    assert state["online"] == {c}, initial
    assert b not in state["online"], initial

    mark = watcher.mark()
    b_client, _ = _signed_in(clients, 1, {"id": b}, label="b")
    online = watcher.wait_for("pusher_internal:watchlist_events", start=mark)
    assert decode_data(online) == {"events": [{"name": "online", "user_ids": [b]}]}, online

    mark = watcher.mark()
    b_client.close()
    offline = watcher.wait_for("pusher_internal:watchlist_events", start=mark)
    assert decode_data(offline) == {"events": [{"name": "offline", "user_ids": [b]}]}, offline


def test_watchlist_user_with_two_connections_goes_offline_after_the_last(clients):
    a, b = unique("a-"), unique("b-")
    watcher = clients.raw(1, label="watcher")
    start = watcher.signin({"id": a, "watchlist": [b]})
    watcher.wait_for("pusher:signin_success", start=start)
    initial = watcher.wait_for("pusher_internal:watchlist_events", start=start)
    assert b not in _watch_events(initial)["online"], initial

    mark = watcher.mark()
    first, _ = _signed_in(clients, 0, {"id": b}, label="b@0")
    watcher.wait_for("pusher_internal:watchlist_events", start=mark,
                     where=lambda m: _watch_events(m)["online"] == {b})
    second, _ = _signed_in(clients, 1, {"id": b}, label="b@1")
    first.close()
    watcher.assert_none("pusher_internal:watchlist_events", start=mark,
                        where=lambda m: b in _watch_events(m)["offline"], during=1.0)
    second.close()
    watcher.wait_for("pusher_internal:watchlist_events", start=mark,
                     where=lambda m: _watch_events(m)["offline"] == {b})
