@testable import FleetNode
import Foundation
import Testing

/// The bounds on what away sessions record (issue 11: one client's broadcasts copied into the
/// mailboxes of a thousand throwaway sessions), without I/O.
@Suite("Away sessions: indexes and bounds")
struct AwaySessionsTests {
    let t0 = ContinuousClock.now

    func session(_ connection: String, id: String? = nil, groups: Set<String> = [], address: String = "1.2.3.4", ttl: Duration = .seconds(300)) -> AwaySessions.Session {
        AwaySessions.Session(connectionID: connection, id: id, groups: groups, address: address, expiresAt: t0 + ttl)
    }

    @Test("recipients come from the indexes: user, connection, rooms, everyone")
    func indexes() {
        var away = AwaySessions()
        _ = away.add("t1", session("c1", id: "alice", groups: ["room:a", "room:b"]), now: t0)
        _ = away.add("t2", session("c2", id: "bob", groups: ["room:b"]), now: t0)
        _ = away.add("t3", session("c3"), now: t0)
        var expired: [String] = []
        #expect(away.recipients(of: .user("alice"), now: t0, expired: &expired) == ["t1"])
        #expect(away.recipients(of: .connection("c2"), now: t0, expired: &expired) == ["t2"])
        #expect(away.recipients(of: .groups(["room:b"]), now: t0, expired: &expired) == ["t1", "t2"])
        #expect(away.recipients(of: .groups(["room:a", "room:b"]), now: t0, expired: &expired) == ["t1", "t2"])
        #expect(away.recipients(of: .groups(["room:z"]), now: t0, expired: &expired) == [])
        #expect(away.recipients(of: .everyone, now: t0, expired: &expired) == ["t1", "t2", "t3"])
        #expect(expired.isEmpty)
        // A claim removes a session from every index.
        #expect(away.remove("t1")?.connectionID == "c1")
        #expect(away.recipients(of: .user("alice"), now: t0, expired: &expired) == [])
        #expect(away.recipients(of: .groups(["room:b"]), now: t0, expired: &expired) == ["t2"])
    }

    @Test("sessions expire, oldest first, and are never recipients after their time")
    func expiry() {
        var away = AwaySessions()
        _ = away.add("old", session("c1", groups: ["g"], ttl: .seconds(10)), now: t0)
        _ = away.add("new", session("c2", groups: ["g"], ttl: .seconds(20)), now: t0)
        var expired: [String] = []
        #expect(away.recipients(of: .groups(["g"]), now: t0 + .seconds(15), expired: &expired) == ["new"])
        #expect(expired == ["old"])
        #expect(away.count == 1)
    }

    @Test("a mailbox keeps at most REPLAY_MAX messages and REPLAY_MAX_BYTES, always the newest")
    func mailboxBounds() {
        var away = AwaySessions(limits: AwaySessionLimits(replayMax: 3, replayMaxBytes: 100))
        _ = away.add("t", session("c"), now: t0)
        #expect(away.record("t", bytes: 40) == .init(sequence: 1, dropped: []))
        #expect(away.record("t", bytes: 40) == .init(sequence: 2, dropped: []))
        #expect(away.record("t", bytes: 40) == .init(sequence: 3, dropped: [1]))  // 120 bytes > 100
        #expect(away.record("t", bytes: 10) == .init(sequence: 4, dropped: []))  // 90 bytes, 3 messages
        #expect(away.record("t", bytes: 10) == .init(sequence: 5, dropped: [2]))  // 4 messages > 3
        #expect(away.record("t", bytes: 500) == .init(sequence: 6, dropped: [3, 4, 5]))  // alone, the newest stays
        #expect(away.sessions["t"]?.keptBytes == 500 && away.sessions["t"]?.kept.count == 1)
        #expect(away.record("gone", bytes: 1) == nil)
    }

    @Test("an address keeps at most MAX_AWAY_SESSIONS_PER_IP sessions away: its oldest goes")
    func perAddress() {
        var away = AwaySessions(limits: AwaySessionLimits(maxPerAddress: 2))
        #expect(away.add("a1", session("c1", address: "10.0.0.1"), now: t0).isEmpty)
        #expect(away.add("a2", session("c2", address: "10.0.0.1"), now: t0).isEmpty)
        #expect(away.add("b1", session("c3", address: "10.0.0.2"), now: t0).isEmpty)
        #expect(away.add("a3", session("c4", address: "10.0.0.1"), now: t0) == ["a1"])
        #expect(Set(away.sessions.keys) == ["a2", "a3", "b1"])
        // An unknown address is not capped (nothing to tell clients apart by).
        for index in 0..<5 { #expect(away.add("u\(index)", session("u\(index)", address: ""), now: t0).isEmpty) }
    }

    @Test("a room records for at most MAX_AWAY_SESSIONS_PER_ROOM sessions; the others know their replay is incomplete")
    func perRoom() {
        var away = AwaySessions(limits: AwaySessionLimits(maxPerRoom: 2))
        for index in 0..<4 {
            _ = away.add("t\(index)", session("c\(index)", groups: ["room:hot", "room:cold\(index)"], address: "10.0.0.\(index)"), now: t0)
        }
        var expired: [String] = []
        #expect(away.recipients(of: .groups(["room:hot"]), now: t0, expired: &expired) == ["t0", "t1"])
        #expect(away.sessions["t0"]?.complete == true && away.sessions["t3"]?.complete == false)
        // Its other rooms still record for it.
        #expect(away.recipients(of: .groups(["room:cold3"]), now: t0, expired: &expired) == ["t3"])
        // When one leaves, the room's count goes down.
        away.remove("t0")
        _ = away.add("t4", session("c4", groups: ["room:hot"], address: "10.0.0.9"), now: t0)
        #expect(away.recipients(of: .groups(["room:hot"]), now: t0, expired: &expired) == ["t1", "t4"])
    }

    @Test("the node keeps at most maxSessions away: the oldest goes")
    func perNode() {
        var away = AwaySessions(limits: AwaySessionLimits(maxSessions: 3))
        for index in 0..<3 { _ = away.add("t\(index)", session("c\(index)", address: "10.0.1.\(index)"), now: t0) }
        #expect(away.add("t3", session("c3", address: "10.0.1.3"), now: t0) == ["t0"])
        away.remove("t1")
        #expect(away.add("t4", session("c4", address: "10.0.1.4"), now: t0).isEmpty)
        #expect(away.count == 3)
    }

    @Test("the amplification of issue 11 is bounded: 1,000 throwaway sessions from one address, 64 KB broadcasts")
    func amplification() {
        var away = AwaySessions()
        for index in 0..<1000 {
            _ = away.add("t\(index)", session("c\(index)", groups: ["room:lobby"], address: "203.0.113.7"), now: t0)
        }
        #expect(away.count == AwaySessionLimits().maxPerAddress)
        var expired: [String] = []
        var storedBytes = 0
        for _ in 0..<100 {
            for token in away.recipients(of: .groups(["room:lobby"]), now: t0, expired: &expired) {
                _ = away.record(token, bytes: 64 * 1024)
            }
        }
        storedBytes = away.sessions.values.reduce(0) { $0 + $1.keptBytes }
        // 100 sessions × 256 KiB, instead of 1,000 × 100 × 64 KB (6.4 GB).
        #expect(storedBytes <= 100 * 256 * 1024)
    }
}
