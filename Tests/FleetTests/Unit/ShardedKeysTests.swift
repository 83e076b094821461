import BrokerCore
import FleetCore
import PusherCore
import Redis
import Testing

/// The key layout on a Redis Cluster: what a script or transaction changes together shares a
/// slot, and what every node writes or reads is spread over the slots. One Redis keeps the
/// names it always had.
@Suite("Key layout on a sharded broker")
struct ShardedKeysTests {
    let keys = FleetKeys(prefix: "wsc:", sharded: true)
    let pusher = PusherKeys(prefix: "wsc:", sharded: true)

    @Test("one Redis keeps its names: one conns and sessions hash, one broadcast channel, no tags")
    func standaloneUnchanged() {
        let plain = FleetKeys(prefix: "wsc:")
        #expect(plain.connections(of: "c1") == "wsc:conns" && plain.connectionSessions(of: "c1") == "wsc:sessions")
        #expect(plain.broadcastChannels == ["wsc:bus:all"] && plain.broadcastChannel(from: "gw") == "wsc:bus:all")
        let plainPusher = PusherKeys(prefix: "wsc:")
        #expect(plainPusher.presence(app: "1", channel: "presence-a") == "wsc:pusher:1:presence:presence-a")
        #expect(plainPusher.occupancy(app: "1") == "wsc:pusher:1:occupied")
        #expect(plainPusher.users(app: "1") == "wsc:pusher:1:users")
        #expect(plainPusher.pendingMemberLeave(app: "1", channel: "presence-a", user: "u") == "wsc:pusher:1:leaving:presence-a:u")
    }

    @Test("the broadcast partitions: one in each sixteenth of the slot space, each publisher always on one, publishers spread over all")
    func broadcastPartitions() {
        let channels = keys.broadcastChannels
        #expect(channels.count == FleetKeys.broadcastPartitionCount && Set(channels).count == 16)
        for (index, channel) in channels.enumerated() {
            let slot = RedisClusterSlot.of(channel)
            #expect((index * 1024..<(index + 1) * 1024).contains(slot), "partition \(index) is in slot \(slot)")
            // The tag decides the slot, whatever the prefix.
            #expect(RedisClusterSlot.of(FleetKeys(prefix: "other:", sharded: true).broadcastChannels[index]) == slot)
        }
        #expect(keys.broadcastChannel(from: "gateway-1") == keys.broadcastChannel(from: "gateway-1"))
        let used = Set((0..<400).map { keys.broadcastChannel(from: "gateway-\($0)") })
        #expect(used == Set(channels))
    }

    @Test("conns and sessions: 256 hashes by connection id, spread over the slots")
    func buckets() {
        #expect(Set(keys.connectionHashes).count == FleetKeys.bucketCount)
        #expect(Set(keys.connectionSessionHashes).count == FleetKeys.bucketCount)
        let ids = (0..<20_000).map { "\($0)-\($0 &* 7919)" }
        let used = Set(ids.map(keys.connections(of:)))
        #expect(used == Set(keys.connectionHashes), "every bucket gets ids")
        #expect(keys.connectionSessions(of: "abc").hasSuffix(String(keys.connections(of: "abc").suffix(3))))
        // Three masters with a third of the slots each get a fair share of the buckets.
        var perThird = [0, 0, 0]
        for hash in keys.connectionHashes { perThird[min(RedisClusterSlot.of(hash) * 3 / 16384, 2)] += 1 }
        #expect(perThird.allSatisfy { $0 >= 60 }, "buckets per third of the slots: \(perThird)")
    }

    @Test("what a Pusher script changes together is in one slot; channels spread")
    func pusherScriptsInOneSlot() {
        let channel = "presence-room"
        let presence = [
            pusher.presence(app: "1", channel: channel), pusher.nodePresence(app: "1", channel: channel, node: "n1"),
            pusher.pendingMemberLeave(app: "1", channel: channel, user: "u{odd}"),
        ]
        #expect(Set(presence.map(RedisClusterSlot.of)).count == 1, "\(presence)")
        let occupancy = [pusher.occupancy(app: "1"), pusher.nodeOccupancy(app: "1", node: "n1"), pusher.pendingVacate(app: "1", channel: channel)]
        #expect(Set(occupancy.map(RedisClusterSlot.of)).count == 1, "\(occupancy)")
        #expect(RedisClusterSlot.of(pusher.users(app: "1")) == RedisClusterSlot.of(pusher.nodeUsers(app: "1", node: "n9")))
        let slots = Set((0..<200).map { RedisClusterSlot.of(pusher.presence(app: "1", channel: "presence-\($0)")) })
        #expect(slots.count > 150, "presence channels share slots: \(slots.count) of 200")
    }

    @Test("a janitor's scan finds a node's presence hashes and reads their channel back, on both layouts")
    func presenceScan() {
        for layout in [pusher, PusherKeys(prefix: "w*s[c]:")] {
            let key = layout.nodePresence(app: "1", channel: "presence-a", node: "n1")
            let pattern = GlobPattern(layout.nodePresencePattern(app: "1", node: "n1"))
            #expect(pattern.matches(key), "\(pattern) vs \(key)")
            #expect(!pattern.matches(layout.nodePresence(app: "1", channel: "presence-a", node: "n2")))
            #expect(!pattern.matches(layout.presence(app: "1", channel: "presence-a")))
            #expect(layout.channel(ofNodePresence: key, app: "1", node: "n1") == "presence-a")
        }
    }
}
