import BrokerCore
import Testing

/// Streams and consumer groups, as the webhook queue uses them.
extension BrokerContractTests {
    @Test(arguments: BrokerKind.allCases)
    func streamAppendAndRange(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "stream"
            #expect(try await broker.streamLength(key) == 0)
            #expect(try await broker.streamRange(key, count: 10) == [])
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await broker.streamAdd(key, ["n": "\(index)", "text": "é😀\n"], maxLength: 1000))
            }
            #expect(Set(ids).count == 5)
            #expect(try await broker.streamLength(key) == 5)
            let entries = try await broker.streamRange(key, count: 10)
            #expect(entries.map(\.id) == ids, "oldest first, as added")
            #expect(entries.map { $0.fields["n"] } == ["0", "1", "2", "3", "4"])
            #expect(entries[0].fields["text"] == "é😀\n")
            #expect(try await broker.streamRange(key, count: 2).map(\.id) == Array(ids.prefix(2)))
            // A stream is a type of its own.
            await expectBrokerError(.wrongType) { try await broker.hashGetAll(key) }
            try await broker.hashSet(key + "h", ["a": "1"])
            await expectBrokerError(.wrongType) { try await broker.streamAdd(key + "h", ["a": "1"], maxLength: 10) }
            await expectBrokerError(.wrongType) { try await broker.streamLength(key + "h") }
        }
    }

    /// `MAXLEN ~`: at least the newest `maxLength` entries stay (Redis trims whole blocks of
    /// about 100, so a small stream is not trimmed at all; the embedded broker trims exactly).
    @Test(arguments: BrokerKind.allCases)
    func streamTrim(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "capped"
            var ids: [String] = []
            for index in 0..<300 {
                ids.append(try await broker.streamAdd(key, ["n": "\(index)"], maxLength: 100))
            }
            let length = try await broker.streamLength(key)
            #expect((100...300).contains(length))
            #expect(length < 300, "trimmed")
            let kept = try await broker.streamRange(key, count: 1000).map(\.id)
            #expect(kept == Array(ids.suffix(length)), "the newest stay, in order")
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func streamConsumerGroups(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "queue"
            // A group on no stream yet makes the (empty) stream; creating it again is no error.
            #expect(try await broker.streamCreateGroup(key, group: "workers") == true)
            #expect(try await broker.streamCreateGroup(key, group: "workers") == false)
            #expect(try await broker.streamLength(key) == 0)
            #expect(try await broker.streamReadGroup(key, group: "workers", consumer: "a", count: 10) == [])

            var ids: [String] = []
            for index in 0..<5 { ids.append(try await broker.streamAdd(key, ["n": "\(index)"], maxLength: 1000)) }
            // Each entry goes to one consumer of the group, once, oldest first.
            let first = try await broker.streamReadGroup(key, group: "workers", consumer: "a", count: 3)
            #expect(first.map(\.id) == Array(ids.prefix(3)))
            #expect(first.map { $0.fields["n"] } == ["0", "1", "2"])
            let second = try await broker.streamReadGroup(key, group: "workers", consumer: "b", count: 10)
            #expect(second.map(\.id) == Array(ids.suffix(2)))
            #expect(try await broker.streamReadGroup(key, group: "workers", consumer: "a", count: 10) == [])

            // Another group reads the whole stream on its own.
            #expect(try await broker.streamCreateGroup(key, group: "audit") == true)
            #expect(try await broker.streamReadGroup(key, group: "audit", consumer: "x", count: 10).map(\.id) == ids)

            // Acknowledged entries are no longer pending; others stay until claimed.
            #expect(try await broker.streamAcknowledge(key, group: "workers", ids: [ids[0], ids[1], ids[1]]) == 2)
            #expect(try await broker.streamAcknowledge(key, group: "workers", ids: [ids[0]]) == 0)
            #expect(try await broker.streamAcknowledge(key, group: "nobody", ids: [ids[2]]) == 0)
            #expect(try await broker.streamAcknowledge(key + "missing", group: "workers", ids: [ids[2]]) == 0)
            await expectBrokerError(.commandFailed) { try await broker.streamAcknowledge(key, group: "workers", ids: ["not-an-id"]) }

            // Nobody touched the rest for an hour? No: nothing to claim yet.
            #expect(try await broker.streamAutoClaim(key, group: "workers", consumer: "c", minIdle: .seconds(3600), count: 10) == [])
            // Idle for at least 0 ms: every pending entry moves to `c`, oldest first, up to COUNT.
            let claimed = try await broker.streamAutoClaim(key, group: "workers", consumer: "c", minIdle: .zero, count: 2)
            #expect(claimed.map(\.id) == [ids[2], ids[3]])
            #expect(claimed.map { $0.fields["n"] } == ["2", "3"])
            let rest = try await broker.streamAutoClaim(key, group: "workers", consumer: "c", minIdle: .zero, count: 10)
            #expect(rest.map(\.id) == [ids[2], ids[3], ids[4]])
            // Just claimed, they are not idle for long.
            #expect(try await broker.streamAutoClaim(key, group: "workers", consumer: "d", minIdle: .seconds(3600), count: 10) == [])
            // Claimed by id: only what is pending (ids[0] was acknowledged).
            #expect(try await broker.streamClaim(key, group: "workers", consumer: "c", ids: [ids[0], ids[3], ids[2]]) == [ids[3], ids[2]])
            await expectBrokerError(.commandFailed) { try await broker.streamClaim(key, group: "workers", consumer: "c", ids: ["x"]) }
            #expect(try await broker.streamAcknowledge(key, group: "workers", ids: [ids[2], ids[3], ids[4]]) == 3)
            #expect(try await broker.streamAutoClaim(key, group: "workers", consumer: "d", minIdle: .zero, count: 10) == [])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func streamGroupErrors(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "nogroup"
            await expectBrokerError(.commandFailed) { try await broker.streamReadGroup(key, group: "g", consumer: "c", count: 1) }
            _ = try await broker.streamAdd(key, ["a": "1"], maxLength: 10)
            await expectBrokerError(.commandFailed) { try await broker.streamReadGroup(key, group: "g", consumer: "c", count: 1) }
            await expectBrokerError(.commandFailed) { try await broker.streamAutoClaim(key, group: "g", consumer: "c", minIdle: .zero, count: 1) }
            // Refused before reaching the broker, the same on both.
            await expectBrokerError(.invalidArgument) { try await broker.streamAdd(key, [:], maxLength: 10) }
            await expectBrokerError(.invalidArgument) { try await broker.streamAdd(key, ["a": "1"], maxLength: 0) }
            await expectBrokerError(.invalidArgument) { try await broker.streamReadGroup(key, group: "g", consumer: "c", count: 0) }
            await expectBrokerError(.invalidArgument) { try await broker.streamAcknowledge(key, group: "g", ids: []) }
            await expectBrokerError(.invalidArgument) {
                try await broker.streamAutoClaim(key, group: "g", consumer: "c", minIdle: .milliseconds(-1), count: 1)
            }
        }
    }

    /// An entry delivered, then trimmed away before anyone acknowledged it, is dropped from
    /// the group when claimed, not returned.
    @Test(arguments: BrokerKind.allCases)
    func streamClaimSkipsTrimmed(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "trimmed"
            _ = try await broker.streamCreateGroup(key, group: "g")
            let old = try await broker.streamAdd(key, ["n": "old"], maxLength: 1000)
            #expect(try await broker.streamReadGroup(key, group: "g", consumer: "a", count: 1).map(\.id) == [old])
            // Enough newer entries that even Redis's block trimming removes the old one.
            for index in 0..<400 { _ = try await broker.streamAdd(key, ["n": "\(index)"], maxLength: 100) }
            #expect(try await broker.streamRange(key, count: 1).first?.id != old)
            #expect(try await broker.streamAutoClaim(key, group: "g", consumer: "b", minIdle: .zero, count: 10) == [])
            #expect(try await broker.streamAcknowledge(key, group: "g", ids: [old]) == 0, "no longer pending")
            _ = try await broker.streamAdd(key, ["n": "newest"], maxLength: 100)
            let newest = try #require(try await broker.streamReadGroup(key, group: "g", consumer: "a", count: 1000).last)
            #expect(newest.fields["n"] == "newest")
            #expect(try await broker.streamClaim(key, group: "g", consumer: "b", ids: [old, newest.id]) == [newest.id])
        }
    }
}
