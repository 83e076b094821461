import BrokerCore
import Testing

/// The broker contract: every test runs against each ``BrokerKind`` and must pass on all
/// of them, so the embedded broker and the Redis one stay interchangeable. Every key and
/// channel is prefixed with a fresh namespace so the tests can share one Redis in parallel.
///
/// Keys, strings, TTLs and transactions are here; hashes and sets in
/// `BrokerContractTests+Collections.swift`, pub/sub in `BrokerContractTests+PubSub.swift`.
@Suite struct BrokerContractTests {
    @Test(arguments: BrokerKind.allCases)
    func getSetDelete(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            #expect(try await broker.get(ns + "a") == nil)
            try await broker.set(ns + "a", to: "1")
            #expect(try await broker.get(ns + "a") == "1")
            try await broker.set(ns + "a", to: "2")
            #expect(try await broker.get(ns + "a") == "2")
            try await broker.set(ns + "b", to: "")
            #expect(try await broker.get(ns + "b") == "")

            #expect(try await broker.delete(ns + "a", ns + "b", ns + "missing") == 2)
            #expect(try await broker.get(ns + "a") == nil)
            #expect(try await broker.delete(ns + "a") == 0)
            // A key named twice is removed once.
            try await broker.set(ns + "c", to: "x")
            #expect(try await broker.delete(ns + "c", ns + "c") == 1)
        }
    }

    /// Each command's raw ``BrokerValue``, exactly as documented in `BrokerCommand.swift`.
    @Test(arguments: BrokerKind.allCases)
    func everyCommandReturnsTheDocumentedValue(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let (s, h, set) = (ns + "s", ns + "h", ns + "set")
            let expected: [(BrokerCommand, BrokerValue)] = [
                (.get(key: s), .null),
                (.set(key: s, value: "v"), .ok),
                (.get(key: s), .string("v")),
                (.setIfAbsent(key: s, value: "w"), .bool(false)),
                (.setIfAbsent(key: ns + "lock", value: "me", ttl: .seconds(30)), .bool(true)),
                (.deleteIfEquals(key: ns + "lock", value: "other"), .bool(false)),
                (.deleteIfEquals(key: ns + "lock", value: "me"), .bool(true)),
                (.ttl(key: s), .int(-1)),
                (.ttl(key: ns + "missing"), .int(-2)),
                (.expire(key: ns + "missing", ttl: .seconds(10)), .bool(false)),
                (.incrementBy(key: ns + "n", amount: 5), .int(5)),
                (.incrementBy(key: ns + "n", amount: -7), .int(-2)),
                (.get(key: ns + "n"), .string("-2")),
                (.hashSet(key: h, fields: ["f": "1", "g": "2"]), .int(2)),
                (.hashSet(key: h, fields: ["f": "9", "k": "3"]), .int(1)),
                (.hashGet(key: h, field: "f"), .string("9")),
                (.hashGet(key: h, field: "missing"), .null),
                (.hashGetAll(key: h), .hash(["f": "9", "g": "2", "k": "3"])),
                (.hashIncrementBy(key: h, field: "g", amount: 40), .int(42)),
                (.hashIncrementBy(key: h, field: "new", amount: -1), .int(-1)),
                (.hashLength(key: h), .int(4)),
                (.hashDelete(key: h, fields: ["f", "missing"]), .int(1)),
                (.setAdd(key: set, members: ["a", "b", "a"]), .int(2)),
                (.setAdd(key: set, members: ["b", "c"]), .int(1)),
                (.setRemove(key: set, members: ["a", "b", "missing"]), .int(2)),
                (.setMembers(key: set), .strings(["c"])),
                (.setCardinality(key: set), .int(1)),
                (.setIsMember(key: set, member: "c"), .bool(true)),
                (.setIsMember(key: set, member: "a"), .bool(false)),
                (.delete(keys: [s, h, set, ns + "missing"]), .int(3)),
            ]
            for (command, value) in expected {
                #expect(try await broker.execute(command) == value, "\(command)")
            }
            // The same batch, run again in one atomic call on fresh keys, answers the same.
            let again = uniqueNamespace()
            let renamed = expected.map { command, value in (command.renamingKeys(from: ns, to: again), value) }
            let values = try await broker.execute(renamed.map(\.0), atomically: true)
            #expect(values == renamed.map(\.1))
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func missingKeysAnswerEmpty(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "missing"
            #expect(try await broker.get(key) == nil)
            #expect(try await broker.ttl(key) == -2)
            #expect(try await broker.expire(key, after: .seconds(1)) == false)
            #expect(try await broker.deleteIfEquals(key, value: "x") == false)
            #expect(try await broker.hashGet(key, field: "f") == nil)
            #expect(try await broker.hashGetAll(key) == [:])
            #expect(try await broker.hashLength(key) == 0)
            #expect(try await broker.hashDelete(key, fields: ["f"]) == 0)
            #expect(try await broker.setMembers(key) == [])
            #expect(try await broker.setCardinality(key) == 0)
            #expect(try await broker.setIsMember(key, "m") == false)
            #expect(try await broker.setRemove(key, ["m"]) == 0)
            // Reads and no-op removals create nothing.
            #expect(try await broker.ttl(key) == -2)
            #expect(try await broker.scanKeys(matching: key) == [])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func incrementBy(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            #expect(try await broker.increment(ns + "n") == 1)
            #expect(try await broker.increment(ns + "n", by: 10) == 11)
            #expect(try await broker.increment(ns + "n", by: -20) == -9)
            #expect(try await broker.get(ns + "n") == "-9")

            try await broker.set(ns + "big", to: String(Int.max))
            await expectBrokerError(.commandFailed) { try await broker.increment(ns + "big") }
            #expect(try await broker.get(ns + "big") == String(Int.max))

            // Redis's strict integer syntax: no spaces, no '+', no leading zeros, no decimals.
            for text in ["abc", "", " 5", "+5", "007", "5.0", "-0", "1e3"] {
                try await broker.set(ns + "text", to: text)
                await expectBrokerError(.commandFailed) { try await broker.increment(ns + "text") }
                #expect(try await broker.get(ns + "text") == text)
            }
        }
    }

    /// `setIfAbsent` + `deleteIfEquals` is a lock: one owner at a time, only the owner releases.
    @Test(arguments: BrokerKind.allCases)
    func lockSemantics(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let lock = uniqueNamespace() + "lock"
            #expect(try await broker.setIfAbsent(lock, to: "owner-a", ttl: .seconds(10)) == true)
            #expect(try await broker.setIfAbsent(lock, to: "owner-b", ttl: .seconds(10)) == false)
            #expect(try await broker.get(lock) == "owner-a")
            let ttl = try await broker.ttl(lock)
            // Expiring within the 10 s, and not much has passed (a loaded machine took over a
            // second between the two commands once).
            #expect((5_000...10_000).contains(ttl))

            #expect(try await broker.deleteIfEquals(lock, value: "owner-b") == false)
            #expect(try await broker.get(lock) == "owner-a")
            #expect(try await broker.deleteIfEquals(lock, value: "owner-a") == true)
            #expect(try await broker.get(lock) == nil)
            #expect(try await broker.deleteIfEquals(lock, value: "owner-a") == false)

            // Without a TTL the lock never expires.
            #expect(try await broker.setIfAbsent(lock, to: "owner-b") == true)
            #expect(try await broker.ttl(lock) == -1)

            // Many contenders at once: exactly one wins.
            let contended = uniqueNamespace() + "contended"
            let winners = try await withThrowingTaskGroup(of: Bool.self, returning: Int.self) { group in
                for index in 0..<20 {
                    group.addTask { try await broker.setIfAbsent(contended, to: "owner-\(index)", ttl: .seconds(10)) }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func emptyListsAreInvalidArguments(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "k"
            await expectBrokerError(.invalidArgument) { _ = try await broker.execute(.delete(keys: [])) }
            await expectBrokerError(.invalidArgument) { try await broker.hashSet(key, [:]) }
            await expectBrokerError(.invalidArgument) { try await broker.hashDelete(key, fields: []) }
            await expectBrokerError(.invalidArgument) { try await broker.setAdd(key, []) }
            await expectBrokerError(.invalidArgument) { try await broker.setRemove(key, []) }
            await expectBrokerError(.invalidArgument) { _ = try await broker.subscribe(to: []) }
            await expectBrokerError(.invalidArgument) { _ = try await broker.subscribe(toPatterns: []) }
            #expect(try await broker.execute([], atomically: true) == [])
            #expect(try await broker.execute([], atomically: false) == [])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func atomicExecuteReturnsEveryValue(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let values = try await broker.execute([
                .incrementBy(key: ns + "n", amount: 1),
                .incrementBy(key: ns + "n", amount: 1),
                .set(key: ns + "s", value: "v", ttl: .seconds(60)),
                .get(key: ns + "s"),
                .hashSet(key: ns + "h", fields: ["f": "v"]),
                .hashGetAll(key: ns + "h"),
                .setAdd(key: ns + "set", members: ["m"]),
                .setMembers(key: ns + "set"),
                .delete(keys: [ns + "n"]),
                .get(key: ns + "n"),
            ], atomically: true)
            #expect(values == [
                .int(1), .int(2), .ok, .string("v"), .int(1), .hash(["f": "v"]),
                .int(1), .strings(["m"]), .int(1), .null,
            ])

            // Nobody observes the state between two commands of an atomic batch.
            let key = ns + "shared"
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<10 {
                    group.addTask {
                        for round in 0..<10 {
                            let mine = "\(writer)-\(round)"
                            let result = try await broker.execute(
                                [.set(key: key, value: mine), .get(key: key)], atomically: true
                            )
                            #expect(result == [.ok, .string(mine)])
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func scanKeysMatchesGlobs(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            try await broker.set(ns + "user:1", to: "a")
            try await broker.set(ns + "user:2", to: "b")
            try await broker.hashSet(ns + "user:10", ["f": "v"])
            try await broker.setAdd(ns + "room:1", ["m"])
            try await broker.set(ns + "room:b", to: "c")
            try await broker.set(ns + "a*b", to: "star")
            try await broker.set(ns + "用户:🎉", to: "unicode")

            func scan(_ pattern: String) async throws -> Set<String> {
                Set(try await broker.scanKeys(matching: ns + pattern))
            }
            #expect(try await scan("user:*") == [ns + "user:1", ns + "user:2", ns + "user:10"])
            #expect(try await scan("user:?") == [ns + "user:1", ns + "user:2"])
            #expect(try await scan("[ru]*:1") == [ns + "user:1", ns + "room:1"])
            #expect(try await scan("room:[^0-9]") == [ns + "room:b"])
            #expect(try await scan("a\\*b") == [ns + "a*b"])
            #expect(try await scan("用户:*") == [ns + "用户:🎉"])
            #expect(try await scan("*").count == 7)
            #expect(try await scan("nothing:*") == [])

            // Keys that expired are not listed.
            try await broker.set(ns + "user:brief", to: "x", ttl: .milliseconds(50))
            try await Task.sleep(for: .milliseconds(150))
            #expect(try await scan("user:*") == [ns + "user:1", ns + "user:2", ns + "user:10"])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func utf8ValuesArePreserved(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let texts = ["héllo wörld 🎉🚀", "你好，世界", "👨‍👩‍👧 🇨🇳", "line1\r\nline2", "tab\tquote\"back\\slash", "\u{0}nul"]
            for (index, text) in texts.enumerated() {
                try await broker.set(ns + "s\(index)", to: text)
                #expect(try await broker.get(ns + "s\(index)") == text)
            }
            try await broker.hashSet(ns + "房间", ["成员 🎉": "你好", "key": "👨‍👩‍👧"])
            #expect(try await broker.hashGetAll(ns + "房间") == ["成员 🎉": "你好", "key": "👨‍👩‍👧"])
            try await broker.setAdd(ns + "集合", texts)
            #expect(try await broker.setMembers(ns + "集合") == Set(texts))
        }
    }

    /// Redis compares bytes; Swift's `String ==` treats "é" and "e\u{301}" as equal.
    /// The brokers must keep such keys, members and values apart, as Redis does.
    @Test(arguments: BrokerKind.allCases)
    func stringsAreComparedByBytes(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let precomposed = "caf\u{E9}"
            let decomposed = "cafe\u{301}"
            try await broker.set(ns + precomposed, to: "one")
            try await broker.set(ns + decomposed, to: "two")
            #expect(try await broker.get(ns + precomposed) == "one")
            #expect(try await broker.get(ns + decomposed) == "two")
            #expect(try await broker.scanKeys(matching: ns + "*").count == 2)

            #expect(try await broker.setAdd(ns + "members", [precomposed, decomposed]) == 2)
            #expect(try await broker.setCardinality(ns + "members") == 2)
            #expect(try await broker.setIsMember(ns + "members", "caf") == false)

            #expect(try await broker.hashSet(ns + "fields", [precomposed: "1"]) == 1)
            #expect(try await broker.hashSet(ns + "fields", [decomposed: "2"]) == 1)
            #expect(try await broker.hashLength(ns + "fields") == 2)
            #expect(try await broker.hashGet(ns + "fields", field: decomposed) == "2")

            try await broker.set(ns + "lock", to: precomposed)
            #expect(try await broker.deleteIfEquals(ns + "lock", value: decomposed) == false)
            #expect(try await broker.deleteIfEquals(ns + "lock", value: precomposed) == true)
        }
    }
}

extension BrokerCommand {
    /// The same command on keys with `prefix` replaced by `replacement`.
    func renamingKeys(from prefix: String, to replacement: String) -> BrokerCommand {
        func rename(_ key: String) -> String {
            key.hasPrefix(prefix) ? replacement + key.dropFirst(prefix.count) : key
        }
        switch self {
        case .get(let key): return .get(key: rename(key))
        case .set(let key, let value, let ttl): return .set(key: rename(key), value: value, ttl: ttl)
        case .setIfAbsent(let key, let value, let ttl): return .setIfAbsent(key: rename(key), value: value, ttl: ttl)
        case .delete(let keys): return .delete(keys: keys.map(rename))
        case .deleteIfEquals(let key, let value): return .deleteIfEquals(key: rename(key), value: value)
        case .expire(let key, let ttl): return .expire(key: rename(key), ttl: ttl)
        case .ttl(let key): return .ttl(key: rename(key))
        case .incrementBy(let key, let amount): return .incrementBy(key: rename(key), amount: amount)
        case .hashSet(let key, let fields): return .hashSet(key: rename(key), fields: fields)
        case .hashSetIfExists(let key, let fields): return .hashSetIfExists(key: rename(key), fields: fields)
        case .hashGet(let key, let field): return .hashGet(key: rename(key), field: field)
        case .hashGetAll(let key): return .hashGetAll(key: rename(key))
        case .hashDelete(let key, let fields): return .hashDelete(key: rename(key), fields: fields)
        case .hashIncrementBy(let key, let field, let amount):
            return .hashIncrementBy(key: rename(key), field: field, amount: amount)
        case .hashLength(let key): return .hashLength(key: rename(key))
        case .setAdd(let key, let members): return .setAdd(key: rename(key), members: members)
        case .setRemove(let key, let members): return .setRemove(key: rename(key), members: members)
        case .setMembers(let key): return .setMembers(key: rename(key))
        case .setCardinality(let key): return .setCardinality(key: rename(key))
        case .setIsMember(let key, let member): return .setIsMember(key: rename(key), member: member)
        case .streamAdd(let key, let fields, let maxLength): return .streamAdd(key: rename(key), fields: fields, maxLength: maxLength)
        case .streamCreateGroup(let key, let group): return .streamCreateGroup(key: rename(key), group: group)
        case .streamReadGroup(let key, let group, let consumer, let count):
            return .streamReadGroup(key: rename(key), group: group, consumer: consumer, count: count)
        case .streamAcknowledge(let key, let group, let ids): return .streamAcknowledge(key: rename(key), group: group, ids: ids)
        case .streamAutoClaim(let key, let group, let consumer, let minIdle, let count):
            return .streamAutoClaim(key: rename(key), group: group, consumer: consumer, minIdle: minIdle, count: count)
        case .streamClaim(let key, let group, let consumer, let ids):
            return .streamClaim(key: rename(key), group: group, consumer: consumer, ids: ids)
        case .streamLength(let key): return .streamLength(key: rename(key))
        case .streamRange(let key, let count): return .streamRange(key: rename(key), count: count)
        case .script(let script, let keys, let arguments): return .script(script, keys: keys.map(rename), arguments: arguments)
        }
    }
}
