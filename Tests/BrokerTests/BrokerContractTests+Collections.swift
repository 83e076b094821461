import BrokerCore
import BrokerEmbedded
import Testing

/// Hashes, sets, TTLs and wrong types.
extension BrokerContractTests {
    @Test(arguments: BrokerKind.allCases)
    func hashSetIfExists(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "maybe"
            // A missing key is not created...
            #expect(try await broker.execute(.hashSetIfExists(key: key, fields: ["a": "1"])) == .bool(false))
            #expect(try await broker.ttl(key) == -2)
            // ...an existing one is updated, in one step with other commands.
            try await broker.hashSet(key, ["a": "0", "b": "2"])
            let values = try await broker.execute([.hashSetIfExists(key: key, fields: ["a": "1", "c": "3"]), .hashGetAll(key: key)], atomically: true)
            #expect(values == [.bool(true), .hash(["a": "1", "b": "2", "c": "3"])])
            // Deleted again, it stays deleted.
            try await broker.delete(key)
            #expect(try await broker.execute(.hashSetIfExists(key: key, fields: ["a": "1"])) == .bool(false))
            #expect(try await broker.hashGetAll(key) == [:])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func hashes(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "hash"
            #expect(try await broker.hashSet(key, ["a": "1", "b": "2"]) == 2)
            #expect(try await broker.hashSet(key, ["b": "3", "c": "4"]) == 1)
            #expect(try await broker.hashGet(key, field: "b") == "3")
            #expect(try await broker.hashGetAll(key) == ["a": "1", "b": "3", "c": "4"])
            #expect(try await broker.hashLength(key) == 3)

            #expect(try await broker.hashIncrement(key, field: "a", by: 9) == 10)
            #expect(try await broker.hashIncrement(key, field: "n") == 1)
            #expect(try await broker.hashIncrement(key, field: "n", by: -3) == -2)
            #expect(try await broker.hashGet(key, field: "n") == "-2")
            try await broker.hashSet(key, ["x": "text"])
            await expectBrokerError(.commandFailed) { try await broker.hashIncrement(key, field: "x") }
            #expect(try await broker.hashGet(key, field: "x") == "text")

            #expect(try await broker.hashDelete(key, fields: ["a", "b", "missing"]) == 2)
            #expect(try await broker.hashGetAll(key) == ["c": "4", "n": "-2", "x": "text"])

            // A hash whose last field is removed no longer exists, like in Redis.
            #expect(try await broker.hashDelete(key, fields: ["c", "n", "x"]) == 3)
            #expect(try await broker.ttl(key) == -2)
            #expect(try await broker.scanKeys(matching: key) == [])
            // ...so the key can now hold another type.
            try await broker.set(key, to: "string")
            #expect(try await broker.get(key) == "string")
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func sets(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let key = uniqueNamespace() + "set"
            #expect(try await broker.setAdd(key, ["a", "b", "a"]) == 2)
            #expect(try await broker.setAdd(key, ["b", "c"]) == 1)
            #expect(try await broker.setMembers(key) == ["a", "b", "c"])
            #expect(try await broker.setCardinality(key) == 3)
            #expect(try await broker.setIsMember(key, "a"))
            #expect(try await broker.setIsMember(key, "z") == false)

            #expect(try await broker.setRemove(key, ["a", "z"]) == 1)
            #expect(try await broker.setMembers(key) == ["b", "c"])

            #expect(try await broker.setRemove(key, ["b", "c"]) == 2)
            #expect(try await broker.ttl(key) == -2)
            #expect(try await broker.scanKeys(matching: key) == [])
            #expect(try await broker.hashSet(key, ["f": "v"]) == 1)
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func wrongTypeErrors(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let (string, hash, set) = (ns + "string", ns + "hash", ns + "set")
            try await broker.set(string, to: "v")
            try await broker.hashSet(hash, ["f": "1"])
            try await broker.setAdd(set, ["m"])

            let onString: [BrokerCommand] = [
                .hashSet(key: string, fields: ["f": "v"]), .hashGet(key: string, field: "f"),
                .hashGetAll(key: string), .hashDelete(key: string, fields: ["f"]),
                .hashIncrementBy(key: string, field: "f", amount: 1), .hashLength(key: string),
                .setAdd(key: string, members: ["m"]), .setRemove(key: string, members: ["m"]),
                .setMembers(key: string), .setCardinality(key: string), .setIsMember(key: string, member: "m"),
            ]
            let onHash: [BrokerCommand] = [
                .get(key: hash), .incrementBy(key: hash, amount: 1), .deleteIfEquals(key: hash, value: "v"),
                .setAdd(key: hash, members: ["m"]), .setMembers(key: hash), .setCardinality(key: hash),
                .setIsMember(key: hash, member: "m"), .setRemove(key: hash, members: ["m"]),
            ]
            let onSet: [BrokerCommand] = [
                .get(key: set), .incrementBy(key: set, amount: 1), .hashSet(key: set, fields: ["f": "v"]),
                .hashGet(key: set, field: "f"), .hashGetAll(key: set), .hashLength(key: set),
                .hashIncrementBy(key: set, field: "f", amount: 1),
            ]
            for command in onString + onHash + onSet {
                await expectBrokerError(.wrongType) { _ = try await broker.execute(command) }
            }
            // Nothing changed.
            #expect(try await broker.get(string) == "v")
            #expect(try await broker.hashGetAll(hash) == ["f": "1"])
            #expect(try await broker.setMembers(set) == ["m"])

            // Commands on any type: SET overwrites, SET NX refuses, DEL/PEXPIRE/PTTL apply.
            #expect(try await broker.setIfAbsent(hash, to: "x") == false)
            #expect(try await broker.expire(set, after: .seconds(30)) == true)
            #expect(try await broker.ttl(set) > 0)
            try await broker.set(hash, to: "now a string")
            #expect(try await broker.get(hash) == "now a string")
            #expect(try await broker.delete(string, hash, set) == 3)

            // In an atomic batch the error is thrown too.
            try await broker.set(string, to: "v")
            await expectBrokerError(.wrongType) {
                _ = try await broker.execute([.get(key: string), .hashGetAll(key: string)], atomically: true)
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func keysExpire(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            // Timing-independent part: a long TTL is visible and counts down from its value.
            try await broker.set(ns + "long", to: "v", ttl: .seconds(60))
            #expect(try await broker.get(ns + "long") == "v")
            #expect((1...60_000).contains(try await broker.ttl(ns + "long")))
            try await broker.delete(ns + "long")

            // Short TTLs: everything set to expire is gone once the deadline has passed
            // (polled, so a loaded machine only makes the test slower, never wrong).
            try await broker.set(ns + "s", to: "v", ttl: .milliseconds(300))
            try await broker.hashSet(ns + "h", ["f": "v"])
            #expect(try await broker.expire(ns + "h", after: .milliseconds(300)))
            try await broker.setAdd(ns + "set", ["m"])
            #expect(try await broker.expire(ns + "set", after: .milliseconds(300)))
            try await broker.set(ns + "kept", to: "v", ttl: .milliseconds(300))
            try await broker.set(ns + "kept", to: "v2")  // SET without TTL clears it

            try await Task.sleep(for: .milliseconds(400))
            let deadline = ContinuousClock.now.advanced(by: .seconds(5))
            while try await broker.get(ns + "s") != nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await broker.get(ns + "s") == nil)
            #expect(try await broker.ttl(ns + "s") == -2)
            #expect(try await broker.hashGetAll(ns + "h") == [:])
            #expect(try await broker.setCardinality(ns + "set") == 0)
            #expect(try await broker.scanKeys(matching: ns + "*") == [ns + "kept"])
            #expect(try await broker.get(ns + "kept") == "v2")
            #expect(try await broker.ttl(ns + "kept") == -1)
            // An expired lock can be taken again.
            #expect(try await broker.setIfAbsent(ns + "s", to: "new"))
        }
    }

    /// Expired keys are removed even when nobody touches them again (the embedded broker's
    /// sweep in `run()`; Redis's active expiry).
    @Test(arguments: BrokerKind.allCases)
    func expiredKeysAreSweptWithoutAccess(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            for index in 0..<3 {
                try await broker.set(ns + "k\(index)", to: "v", ttl: .milliseconds(300))
            }
            guard let embedded = broker as? EmbeddedBroker else { return }
            #expect(embedded.storedKeyCount == 3)
            let deadline = ContinuousClock.now.advanced(by: .seconds(3))
            while embedded.storedKeyCount > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(embedded.storedKeyCount == 0, "run() did not sweep expired keys")
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func expireAndPersist(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let key = ns + "k"
            try await broker.set(key, to: "v")
            #expect(try await broker.ttl(key) == -1)
            #expect(try await broker.expire(key, after: .seconds(10)))
            #expect((5_000...10_000).contains(try await broker.ttl(key)))
            #expect(try await broker.expire(key, after: .seconds(5)))
            #expect((4_000...5_000).contains(try await broker.ttl(key)))

            // Writes that keep the key keep its TTL; SET (without TTL) persists it.
            try await broker.set(ns + "n", to: "1", ttl: .seconds(10))
            try await broker.increment(ns + "n")
            #expect((5_000...10_000).contains(try await broker.ttl(ns + "n")))
            try await broker.hashSet(ns + "h", ["a": "1"])
            try await broker.expire(ns + "h", after: .seconds(10))
            try await broker.hashSet(ns + "h", ["b": "2"])
            #expect((5_000...10_000).contains(try await broker.ttl(ns + "h")))
            try await broker.set(key, to: "persisted")
            #expect(try await broker.ttl(key) == -1)
            try await broker.set(key, to: "again", ttl: .seconds(10))
            #expect((5_000...10_000).contains(try await broker.ttl(key)))

            // A TTL that is not positive deletes the key at once (Redis PEXPIRE).
            #expect(try await broker.expire(key, after: .zero))
            #expect(try await broker.get(key) == nil)
            try await broker.hashSet(key, ["f": "v"])
            #expect(try await broker.expire(key, after: .milliseconds(-5)))
            #expect(try await broker.ttl(key) == -2)
            #expect(try await broker.expire(key, after: .zero) == false)

            // SET with a TTL that is not positive is refused and changes nothing.
            try await broker.set(key, to: "v")
            await expectBrokerError(.invalidArgument) { try await broker.set(key, to: "w", ttl: .zero) }
            await expectBrokerError(.invalidArgument) { try await broker.set(key, to: "w", ttl: .seconds(-1)) }
            await expectBrokerError(.invalidArgument) { _ = try await broker.setIfAbsent(ns + "other", to: "w", ttl: .zero) }
            #expect(try await broker.get(key) == "v")
            #expect(try await broker.get(ns + "other") == nil)
        }
    }
}
