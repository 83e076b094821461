"""Cache channels: `pusher:cache_miss` when empty, the last event replayed to new subscribers."""

from interop_support import decode_data, unique


def test_cache_miss_when_nothing_cached(clients):
    channel = unique("cache-")
    client = clients.raw(0)
    got = client.subscribe_ok(channel)
    assert got["event"] == "pusher_internal:subscription_succeeded", got
    miss = client.wait_for("pusher:cache_miss")
    assert miss.get("channel") == channel, miss


def test_new_subscriber_gets_last_event_after_subscription_succeeded(clients, rest):
    channel = unique("cache-")
    first = clients.raw(0, label="first")
    assert first.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    rest(0).trigger(channel, "price", {"v": 1})
    rest(1).trigger(channel, "price", {"v": 2})
    first.wait_count(2, "price", channel)

    for node in (1, 0):
        late = clients.raw(node, label=f"late@{node}")
        start = late.subscribe(channel)
        succeeded = late.wait_for("pusher_internal:subscription_succeeded", channel, start=start)
        cached = late.wait_for("price", channel, start=start)
        frames = late.history[start:]
        assert frames.index(succeeded) < frames.index(cached), frames
        # right after subscription_succeeded: nothing in between on that channel
        between = frames[frames.index(succeeded) + 1:frames.index(cached)]
        assert not [m for m in between if m.get("channel") == channel], frames
        assert decode_data(cached) == {"v": 2}, cached
        late.assert_count_stays(1, "price", channel, during=0.3)
        assert not late.find("pusher:cache_miss", start=start)


def test_private_cache_channel(clients, rest):
    channel = unique("private-cache-")
    first = clients.raw(1)
    assert first.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    first.wait_for("pusher:cache_miss")
    rest(1).trigger(channel, "state", {"s": "on"})
    first.wait_for("state", channel)
    late = clients.raw(0)
    assert late.subscribe_ok(channel)["event"] == "pusher_internal:subscription_succeeded"
    assert decode_data(late.wait_for("state", channel)) == {"s": "on"}
