import FleetCore
import Testing

/// When a node leaves `master_ids`: its heartbeat expired, or it announced itself before a read
/// that no longer lists it; never because one read missed it (a failover can lose a write).
@Suite("NodeRoster")
struct NodeRosterTests {
    func node(_ id: String, expiresAt: Int64) -> NodeInfo {
        NodeInfo(id: id, host: "127.0.0.1", port: 1, startedAt: 0, connections: 0, version: "t", expiresAt: expiresAt)
    }

    @Test("a read that misses a node whose heartbeat has not expired keeps it, until it expires")
    func missedReadKeeps() {
        var roster = NodeRoster()
        roster.apply(read: [node("a", expiresAt: 10_000), node("b", expiresAt: 10_000)], startedAt: roster.generation, now: 1_000)
        roster.apply(read: [node("a", expiresAt: 11_000)], startedAt: roster.generation, now: 2_000)
        #expect(roster.live(at: 2_000) == ["a", "b"])
        #expect(roster.live(at: 10_500) == ["a"], "b's last heartbeat has expired")
        roster.apply(read: [node("a", expiresAt: 12_000)], startedAt: roster.generation, now: 10_600)
        roster.apply(read: [node("a", expiresAt: 12_000), node("b", expiresAt: 9_000)], startedAt: roster.generation, now: 10_700)
        #expect(roster.live(at: 10_700) == ["a"], "an expired entry read again is not alive")
    }

    @Test("a node that announced itself and is then not listed has left, at once")
    func announcedLeave() {
        var roster = NodeRoster()
        roster.apply(read: [node("a", expiresAt: 10_000), node("b", expiresAt: 10_000)], startedAt: roster.generation, now: 1_000)
        roster.announce("b")
        roster.apply(read: [node("a", expiresAt: 10_000)], startedAt: roster.generation, now: 1_100)
        #expect(roster.live(at: 1_100) == ["a"])
    }

    @Test("an announcement made while a read was under way waits for the next read")
    func announcementDuringRead() {
        var roster = NodeRoster()
        roster.apply(read: [node("a", expiresAt: 10_000), node("b", expiresAt: 10_000)], startedAt: roster.generation, now: 1_000)
        let started = roster.generation
        roster.announce("b")  // b leaves while the read (which still lists b) is under way
        roster.apply(read: [node("a", expiresAt: 10_000), node("b", expiresAt: 10_000)], startedAt: started, now: 1_100)
        #expect(roster.live(at: 1_100) == ["a", "b"])
        roster.apply(read: [node("a", expiresAt: 10_000)], startedAt: roster.generation, now: 1_200)
        #expect(roster.live(at: 1_200) == ["a"], "the next read applies b's announcement")
    }

    @Test("a node that announced its join is listed by the read, and a later miss keeps it")
    func announcedJoin() {
        var roster = NodeRoster()
        roster.announce("c")
        roster.apply(read: [node("c", expiresAt: 5_000)], startedAt: roster.generation, now: 1_000)
        roster.apply(read: [], startedAt: roster.generation, now: 1_100)
        #expect(roster.live(at: 1_100) == ["c"], "the join announcement was used up by the read that listed c")
    }
}
