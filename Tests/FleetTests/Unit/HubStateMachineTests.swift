import FleetCore
import Testing

@testable import FleetNode

/// The hub's bookkeeping without sockets: sockets are strings, the time is passed in, and
/// what the hub would do is read from the actions.
@Suite("Hub state machine")
struct HubStateMachineTests {
    typealias Machine = HubStateMachine<String>
    typealias Action = Machine.Action

    static let t0 = ContinuousClock.now
    static let ttl = Duration.seconds(300)

    /// `seconds` after the origin of these tests.
    static func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    /// A machine on node "n1" with connections whose sockets are "s:<_id>" and whose
    /// greetings are "hi:<_id>"; the connections in `sessions` have the session "t:<_id>".
    static func machine(_ connections: [String] = [], sessions: Set<String> = [], limits: AwaySessionLimits = AwaySessionLimits()) -> Machine {
        var machine = Machine(nodeID: "n1", awayTTL: ttl, awayLimits: limits)
        for connection in connections {
            let token = sessions.contains(connection) ? "t:\(connection)" : nil
            _ = machine.open(connection, socket: "s:\(connection)", greeting: ["hi:\(connection)"], sessionToken: token, address: "10.0.0.1")
        }
        return machine
    }

    static func snapshot(_ connection: String, id: String? = nil, groups: Set<String> = []) -> ConnectionSnapshot {
        ConnectionSnapshot(connectionID: connection, node: "n1", id: id, groups: groups)
    }

    // MARK: Connections

    @Test("open queues the greeting, then reports the connection; a taken id changes nothing")
    func open() {
        var machine = Self.machine()
        let actions = machine.open("c1", socket: "s1", greeting: ["one", "two"])
        #expect(actions == [
            .deliver("one", to: ["s1"]), .deliver("two", to: ["s1"]),
            .bindingChanged(BindingChange(before: nil, after: Self.snapshot("c1"))),
        ])
        #expect(machine.open("c1", socket: "other", greeting: ["dup"]) == nil)
        #expect(machine.connectionCount == 1)
        #expect(machine.connections["c1"]?.socket == "s1")
        #expect(machine.messagesSent == 2)
    }

    @Test("close reports the removal once; a connection with a session turns it away in the same change")
    func close() {
        var machine = Self.machine(["c1", "c2"], sessions: ["c2"])
        _ = machine.execute([.event(.bindId, EventArguments(id: "u", connectionID: "c1"))], now: Self.at(0), epochMilliseconds: 1)
        #expect(machine.close("c1", now: Self.at(1)) == [
            .bindingChanged(BindingChange(before: Self.snapshot("c1", id: "u"), after: nil))
        ])
        #expect(machine.close("c1", now: Self.at(1)) == [])
        #expect(machine.close("c2", now: Self.at(1)) == [
            .bindingChanged(BindingChange(before: Self.snapshot("c2"), after: nil, awaySession: "t:c2"))
        ])
        #expect(machine.connectionCount == 0)
        #expect(machine.connections.isEmpty && machine.liveByToken.isEmpty)
        #expect(machine.away.sessions["t:c2"]?.expiresAt == Self.at(1) + Self.ttl)
        #expect(machine.away.sessions["t:c2"]?.address == "10.0.0.1")
    }

    @Test("send reaches an open connection; nothing for an unknown one")
    func send() {
        var machine = Self.machine(["c1"])
        #expect(machine.send("raw", to: "c1") == .deliver("raw", to: ["s:c1"]))
        #expect(machine.send("raw", to: "nope") == nil)
    }

    // MARK: Bindings

    @Test("bind, join and leave report each change in order; no change, no action")
    func bindingChanges() {
        var machine = Self.machine(["c1", "c2"])
        let (results, actions) = machine.execute([
            .event(.bindId, EventArguments(id: "u", connectionID: "c1")),
            .event(.bindId, EventArguments(id: "u", connectionID: "c2")),
            .event(.joinGroupById, EventArguments(id: "u", groups: ["g"])),
            .event(.joinGroupBy_Id, EventArguments(connectionID: "c1", groups: ["g"])),  // no change
            .event(.leaveGroupBy_Id, EventArguments(connectionID: "c2", groups: ["g"])),
            .event(.getGroupIds, EventArguments()),
        ], now: Self.at(0), epochMilliseconds: 1)
        #expect(results == [.int(1), .int(1), .int(1), .int(0), .int(1), .strings(["g"])])
        #expect(actions == [
            .bindingChanged(BindingChange(before: Self.snapshot("c1"), after: Self.snapshot("c1", id: "u"))),
            .bindingChanged(BindingChange(before: Self.snapshot("c2"), after: Self.snapshot("c2", id: "u"))),
            // A user-wide change: one per connection, in the order of their ids.
            .bindingChanged(BindingChange(before: Self.snapshot("c1", id: "u"), after: Self.snapshot("c1", id: "u", groups: ["g"]))),
            .bindingChanged(BindingChange(before: Self.snapshot("c2", id: "u"), after: Self.snapshot("c2", id: "u", groups: ["g"]))),
            .bindingChanged(BindingChange(before: Self.snapshot("c2", id: "u", groups: ["g"]), after: Self.snapshot("c2", id: "u"))),
        ])
    }

    @Test("a group's created_at is the wall-clock time passed with its first join")
    func groupCreatedAt() {
        var machine = Self.machine(["c1", "c2"])
        _ = machine.execute([.event(.joinGroupBy_Id, EventArguments(connectionID: "c1", groups: ["g"]))], now: Self.at(0), epochMilliseconds: 1_000)
        _ = machine.execute([.event(.joinGroupBy_Id, EventArguments(connectionID: "c2", groups: ["g"]))], now: Self.at(5), epochMilliseconds: 6_000)
        let (results, _) = machine.execute([.event(.getGroupStats, EventArguments(groups: ["g"]))], now: Self.at(5), epochMilliseconds: 6_000)
        #expect(results == [.object(.object(["connections": .number("2"), "users": .number("0"), "created_at": .number("1000")]))])
    }

    @Test("getStats answers the machine's own figures; messages_sent counts every message queued")
    func stats() {
        var machine = Self.machine(["c1", "c2"])  // two greetings
        let (results, _) = machine.execute([
            .event(.broadcast, EventArguments(message: "m")),
            .event(.getStats, EventArguments()),
        ], now: Self.at(0), epochMilliseconds: 1)
        #expect(results.last == .object(.object([
            "connections": .number("2"), "rooms": .number("0"), "users": .number("0"), "messages_sent": .number("4"),
        ])))
    }

    // MARK: Sending

    @Test("a send to many is one delivery action carrying every socket; excluding leaves one out")
    func groupSends() {
        var machine = Self.machine(["c1", "c2", "c3", "c4"])
        _ = machine.execute([
            .event(.joinGroupBy_Id, EventArguments(connectionID: "c1", groups: ["a", "b"])),
            .event(.joinGroupBy_Id, EventArguments(connectionID: "c2", groups: ["a"])),
            .event(.joinGroupBy_Id, EventArguments(connectionID: "c3", groups: ["b"])),
        ], now: Self.at(0), epochMilliseconds: 1)
        let (results, actions) = machine.execute([
            .sendToGroups(["a", "b"], message: "both", excluding: "c3"),
            .event(.sendToGroup, EventArguments(groups: ["a", "b"], message: "all")),
            .event(.sendToGroup, EventArguments(groups: ["empty"], message: "none")),
            .event(.broadcast, EventArguments(message: "everyone")),
        ], now: Self.at(0), epochMilliseconds: 1)
        #expect(results == [.int(2), .int(3), .int(0), .int(4)])
        #expect(Self.deliveries(actions) == [
            Delivery("both", to: ["s:c1", "s:c2"]),
            Delivery("all", to: ["s:c1", "s:c2", "s:c3"]),
            Delivery("everyone", to: ["s:c1", "s:c2", "s:c3", "s:c4"]),
        ])
        #expect(actions.count == 3)
    }

    @Test("sends to users and connections: one action per message, nothing when nobody is here")
    func targetedSends() {
        var machine = Self.machine(["c1", "c2", "c3"])
        _ = machine.execute([
            .event(.bindId, EventArguments(id: "u", connectionID: "c1")),
            .event(.bindId, EventArguments(id: "u", connectionID: "c2")),
        ], now: Self.at(0), epochMilliseconds: 1)
        let (results, actions) = machine.execute([
            .event(.sendMessageToId, EventArguments(id: "u", message: "user")),
            .event(.sendMessageToId, EventArguments(id: "nobody", message: "lost")),
            .event(.sendMessageTo_Id, EventArguments(connectionID: "c3", message: "one")),
            .event(.sendMessageTo_Id, EventArguments(connectionID: "gone", message: "lost")),
        ], now: Self.at(0), epochMilliseconds: 1)
        #expect(results == [.int(1), .int(0), .int(1), .int(0)])
        #expect(Self.deliveries(actions) == [Delivery("user", to: ["s:c1", "s:c2"]), Delivery("one", to: ["s:c3"])])
    }

    @Test("a failing operation answers failure and emits nothing; the batch goes on")
    func failure() {
        var machine = Self.machine(["c1"])
        let (results, actions) = machine.execute([
            .event(.sendMessageTo_Id, EventArguments(connectionID: "c1")),
            .event(.sendMessageTo_Id, EventArguments(connectionID: "c1", message: "ok")),
        ], now: Self.at(0), epochMilliseconds: 1)
        #expect(results.first == .failure(code: 1, message: "sendMessageTo_Id: missing msg"))
        #expect(actions == [.deliver("ok", to: ["s:c1"])])
    }

    // MARK: Away sessions

    @Test("an away session's messages are recorded in sequence, sharing the text; live ones go out in the same input")
    func recording() {
        var machine = Self.machine(["c1", "c2"], sessions: ["c1"])
        _ = machine.execute([
            .event(.bindId, EventArguments(id: "u", connectionID: "c1")),
            .event(.joinGroupBy_Id, EventArguments(connectionID: "c1", groups: ["room"])),
            .event(.joinGroupBy_Id, EventArguments(connectionID: "c2", groups: ["room"])),
        ], now: Self.at(0), epochMilliseconds: 1)
        _ = machine.close("c1", now: Self.at(1))

        let (results, actions) = machine.execute([
            .event(.sendToGroup, EventArguments(groups: ["room"], message: "to room", messageID: "m1")),
            .event(.sendMessageToId, EventArguments(id: "u", message: "to user", messageID: "m2")),
            .event(.sendMessageTo_Id, EventArguments(connectionID: "c1", message: "to connection")),
            .event(.sendToGroup, EventArguments(groups: ["other"], message: "not for it")),
        ], now: Self.at(2), epochMilliseconds: 2)
        // Recorded, not delivered: the session's connection is gone, so only c2 counts.
        #expect(results == [.int(1), .int(0), .int(0), .int(0)])
        #expect(actions == [
            .deliver("to room", to: ["s:c2"]),
            .record(AwayRecording(token: "t:c1", sequence: 1, message: "to room", messageID: "m1")),
            .record(AwayRecording(token: "t:c1", sequence: 2, message: "to user", messageID: "m2")),
            .record(AwayRecording(token: "t:c1", sequence: 3, message: "to connection", messageID: nil)),
        ])
    }

    @Test("a session expires at its time: nothing is recorded after, and it is not handed over")
    func expiry() {
        var machine = Self.machine(["c1"], sessions: ["c1"])
        _ = machine.close("c1", now: Self.at(0))
        let justBefore = Self.at(0) + Self.ttl - .milliseconds(1)
        #expect(machine.awaySessions(now: justBefore).map(\.remaining) == [1])
        let (_, before) = machine.execute([.event(.broadcast, EventArguments(message: "a"))], now: justBefore, epochMilliseconds: 1)
        #expect(before == [.record(AwayRecording(token: "t:c1", sequence: 1, message: "a", messageID: nil))])

        let expiry = Self.at(0) + Self.ttl
        #expect(machine.awaySessions(now: expiry).isEmpty)
        let (_, after) = machine.execute([.event(.broadcast, EventArguments(message: "b"))], now: expiry, epochMilliseconds: 1)
        #expect(after == [])
        #expect(machine.away.isEmpty)
    }

    @Test("mailbox bounds: each recording names the older entries to drop")
    func mailboxBounds() {
        var machine = Self.machine(["c1"], sessions: ["c1"], limits: AwaySessionLimits(replayMax: 2))
        _ = machine.close("c1", now: Self.at(0))
        let (_, actions) = machine.execute(
            ["1", "2", "3"].map { .event(.broadcast, EventArguments(message: $0)) }, now: Self.at(1), epochMilliseconds: 1
        )
        #expect(actions == [
            .record(AwayRecording(token: "t:c1", sequence: 1, message: "1", messageID: nil)),
            .record(AwayRecording(token: "t:c1", sequence: 2, message: "2", messageID: nil)),
            .record(AwayRecording(token: "t:c1", sequence: 3, message: "3", messageID: nil, dropped: [1])),
        ])
    }

    @Test("caps: an address over its cap drops its oldest session (discard before the close's change); a full room marks the replay incomplete")
    func caps() {
        var machine = Self.machine(["c1", "c2", "c3"], sessions: ["c1", "c2", "c3"], limits: AwaySessionLimits(maxPerAddress: 2, maxPerRoom: 1))
        _ = machine.execute(["c1", "c2", "c3"].map {
            .event(.joinGroupBy_Id, EventArguments(connectionID: $0, groups: ["room"]))
        }, now: Self.at(0), epochMilliseconds: 1)
        _ = machine.close("c1", now: Self.at(1))
        _ = machine.close("c2", now: Self.at(2))
        // Same address (10.0.0.1) as the two away already: the oldest goes.
        #expect(machine.close("c3", now: Self.at(3)) == [
            .discardAway(token: "t:c1"),
            .bindingChanged(BindingChange(before: Self.snapshot("c3", groups: ["room"]), after: nil, awaySession: "t:c3")),
        ])
        #expect(Set(machine.away.sessions.keys) == ["t:c2", "t:c3"])
        // c1 held the room's only place when c2 turned away: c2 misses the room's messages
        // and will know it. c1's drop freed the place for c3.
        let (_, actions) = machine.execute([.event(.sendToGroup, EventArguments(groups: ["room"], message: "m"))], now: Self.at(4), epochMilliseconds: 1)
        #expect(actions == [.record(AwayRecording(token: "t:c3", sequence: 1, message: "m", messageID: nil))])
        #expect(Self.complete(Self.claimed(&machine, "t:c2", by: "c9")) == false)
        #expect(Self.complete(Self.claimed(&machine, "t:c3", by: "c9")) == true)
    }

    @Test("a recording the writer refused, once told, makes the session's replay incomplete")
    func recordingFailed() {
        var machine = Self.machine(["c1"], sessions: ["c1"])
        _ = machine.close("c1", now: Self.at(0))
        _ = machine.execute([.event(.broadcast, EventArguments(message: "m"))], now: Self.at(1), epochMilliseconds: 1)
        machine.recordingFailed("t:c1")
        let answer = Self.claimed(&machine, "t:c1", by: "c9")
        #expect(answer?.session == .away(recorded: 1, complete: false, id: nil, groups: []))
    }

    // MARK: Claims

    @Test("claiming an away session here: it stops recording, the claimant takes its user and groups, live messages wait for the replay")
    func claimAway() {
        var machine = Self.machine(["old", "new", "peer"], sessions: ["old"])
        _ = machine.execute([
            .event(.bindId, EventArguments(id: "u", connectionID: "old")),
            .event(.joinGroupBy_Id, EventArguments(connectionID: "old", groups: ["room"])),
            .event(.joinGroupBy_Id, EventArguments(connectionID: "peer", groups: ["room"])),
        ], now: Self.at(0), epochMilliseconds: 1)
        _ = machine.close("old", now: Self.at(1))
        // The new connection gets a message before its claim: its id is noted.
        _ = machine.execute([.event(.broadcast, EventArguments(message: "early", messageID: "m1"))], now: Self.at(2), epochMilliseconds: 1)

        let (results, actions) = machine.execute(
            [.claimSession(token: "t:old", connectionID: "new", id: "u", groups: ["room"])], now: Self.at(3), epochMilliseconds: 1
        )
        #expect(results == [.claim(ClaimAnswer(session: .away(recorded: 1, complete: true, id: "u", groups: ["room"]), seen: ["m1"]))])
        #expect(actions == [.bindingChanged(BindingChange(before: Self.snapshot("new"), after: Self.snapshot("new", id: "u", groups: ["room"])))])
        #expect(machine.away.isEmpty)

        // Held: counted as delivered, queued only once the replay is.
        let (sent, held) = machine.execute([.event(.sendToGroup, EventArguments(groups: ["room"], message: "live"))], now: Self.at(4), epochMilliseconds: 1)
        #expect(sent == [.int(2)])
        #expect(held == [.deliver("live", to: ["s:peer"])])
        // The connection's own replies are not held.
        #expect(machine.send("reply", to: "new") == .deliver("reply", to: ["s:new"]))
        #expect(machine.releaseHold("new", prefix: ["resumed", "replayed"]) == [
            .deliver("resumed", to: ["s:new"]), .deliver("replayed", to: ["s:new"]), .deliver("live", to: ["s:new"]),
        ])
        let (_, after) = machine.execute([.event(.sendMessageTo_Id, EventArguments(connectionID: "new", message: "next"))], now: Self.at(5), epochMilliseconds: 1)
        #expect(after == [.deliver("next", to: ["s:new"])])
    }

    @Test("claiming a session whose connection is still open here cuts that socket off: it leaves without turning away")
    func claimLive() {
        var machine = Self.machine(["old", "new"], sessions: ["old"])
        _ = machine.execute([.event(.bindId, EventArguments(id: "u", connectionID: "old"))], now: Self.at(0), epochMilliseconds: 1)
        let (results, actions) = machine.execute(
            [.claimSession(token: "t:old", connectionID: "new", id: "u", groups: [])], now: Self.at(1), epochMilliseconds: 1
        )
        #expect(results == [.claim(ClaimAnswer(session: .live, seen: []))])
        #expect(actions == [
            .cut("s:old"),
            .bindingChanged(BindingChange(before: Self.snapshot("old", id: "u"), after: nil)),
            .bindingChanged(BindingChange(before: Self.snapshot("new"), after: Self.snapshot("new", id: "u"))),
        ])
        #expect(machine.close("old", now: Self.at(2)) == [])
        #expect(machine.away.isEmpty)
    }

    @Test("a claim for a session this node does not know, by a connection elsewhere, answers nothing and changes nothing")
    func claimElsewhere() {
        var machine = Self.machine(["c1"])
        let (results, actions) = machine.execute(
            [.claimSession(token: "unknown", connectionID: "far", id: "u", groups: ["g"])], now: Self.at(0), epochMilliseconds: 1
        )
        #expect(results == [.claim(ClaimAnswer())])
        #expect(actions == [])
    }

    @Test("a settled connection lists no message ids when it claims later")
    func settle() {
        var machine = Self.machine(["c1"])
        _ = machine.execute([.event(.broadcast, EventArguments(message: "a", messageID: "m1"))], now: Self.at(0), epochMilliseconds: 1)
        machine.settle("c1")
        _ = machine.execute([.event(.broadcast, EventArguments(message: "b", messageID: "m2"))], now: Self.at(0), epochMilliseconds: 1)
        #expect(Self.claimed(&machine, "none", by: "c1")?.seen == [])
    }

    // MARK: Handovers

    @Test("adopted sessions record here for the time they had left; the node that hands them over stops")
    func adopt() {
        var handed = HandedSession(token: "t", connectionID: "c", id: "u", groups: ["room"], recorded: 4, remaining: 10_000)
        handed.kept = [1, 1]
        handed.address = "10.0.0.9"
        var expired = handed
        expired.token = "t-expired"
        expired.remaining = 0

        var taker = Self.machine()
        let (results, actions) = taker.execute([.adoptSessions(from: "n0", to: "n1", sessions: [handed, expired])], now: Self.at(0), epochMilliseconds: 1)
        #expect(results == [.int(2)])
        #expect(actions == [])
        #expect(taker.awaySessions(now: Self.at(4)).map(\.remaining) == [6_000])
        let (_, recorded) = taker.execute([.event(.sendMessageToId, EventArguments(id: "u", message: "m"))], now: Self.at(5), epochMilliseconds: 1)
        #expect(recorded == [.record(AwayRecording(token: "t", sequence: 5, message: "m", messageID: nil))])
        #expect(taker.awaySessions(now: Self.at(10)).isEmpty)

        var giver = Self.machine(["c"], sessions: ["c"])
        _ = giver.close("c", now: Self.at(0))
        let handedOver = giver.awaySessions(now: Self.at(1))
        #expect(handedOver.map(\.token) == ["t:c"])
        _ = giver.execute([.adoptSessions(from: "n1", to: "n2", sessions: handedOver)], now: Self.at(1), epochMilliseconds: 1)
        #expect(giver.away.isEmpty)
    }

    @Test("adopting past the node's cap drops the oldest sessions: one discard each")
    func adoptOverCap() {
        var machine = Self.machine(limits: AwaySessionLimits(maxSessions: 2))
        let sessions = (1...3).map { HandedSession(token: "t\($0)", connectionID: "c\($0)", id: nil, groups: [], recorded: 0, remaining: 60_000) }
        let (_, actions) = machine.execute([.adoptSessions(from: "n0", to: "n1", sessions: sessions)], now: Self.at(0), epochMilliseconds: 1)
        #expect(actions == [.discardAway(token: "t1")])
        #expect(Set(machine.away.sessions.keys) == ["t2", "t3"])
    }

    // MARK: Helpers

    /// A delivery with its sockets sorted (a group's members come in no particular order).
    struct Delivery: Equatable, CustomStringConvertible {
        var message: String
        var sockets: [String]
        init(_ message: String, to sockets: [String]) {
            self.message = message
            self.sockets = sockets.sorted()
        }
        var description: String { "\(message) → \(sockets)" }
    }

    static func deliveries(_ actions: [Action]) -> [Delivery] {
        actions.compactMap { action in
            if case .deliver(let message, let sockets) = action { Delivery(message, to: sockets) } else { nil }
        }
    }

    /// The answer's fields when `connection` claims `token`.
    static func claimed(_ machine: inout Machine, _ token: String, by connection: String) -> ClaimAnswer? {
        let (results, _) = machine.execute(
            [.claimSession(token: token, connectionID: connection, id: nil, groups: [])], now: at(10), epochMilliseconds: 1
        )
        guard case .claim(let answer)? = results.first else { return nil }
        return answer
    }

    /// Whether a claim found the session away here with its replay complete.
    static func complete(_ answer: ClaimAnswer?) -> Bool? {
        guard case .away(_, let complete, _, _)? = answer?.session else { return nil }
        return complete
    }
}
