import BrokerCore
import Testing

/// Scripts: the Lua body (Redis) and the Swift body (embedded broker) of a script answer
/// alike, run atomically, and fail like any command.
@Suite struct BrokerScriptContractTests {
    /// `HINCRBY` that removes the field when it reaches zero; answers the new value.
    static let counter = BrokerScript(
        name: "test-counter",
        lua: """
            local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
            if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
            return n
            """
    ) { keys, arguments, run in
        guard case .int(let n) = try run(.hashIncrementBy(key: keys[0], field: arguments[0], amount: Int(arguments[1]) ?? 0)) else {
            return .null
        }
        if n <= 0 { _ = try run(.hashDelete(key: keys[0], fields: [arguments[0]])) }
        return .int(n)
    }

    /// Answers each kind of value: nothing, a string, a list of strings.
    static let kinds = BrokerScript(
        name: "test-kinds",
        lua: """
            if ARGV[1] == 'nil' then return nil end
            if ARGV[1] == 'string' then return redis.call('GET', KEYS[1]) end
            return redis.call('HKEYS', KEYS[1])
            """
    ) { keys, arguments, run in
        switch arguments[0] {
        case "nil": return .null
        case "string": return try run(.get(key: keys[0]))
        default:
            guard case .hash(let hash) = try run(.hashGetAll(key: keys[0])) else { return .strings([]) }
            return .strings(Array(hash.keys))
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func scriptsAnswerEveryKindOfValue(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            #expect(try await broker.execute(.script(Self.counter, keys: [ns + "h"], arguments: ["a", "2"])) == .int(2))
            #expect(try await broker.execute(.script(Self.counter, keys: [ns + "h"], arguments: ["b", "1"])) == .int(1))
            #expect(try await broker.execute(.script(Self.counter, keys: [ns + "h"], arguments: ["a", "-2"])) == .int(0))
            #expect(try await broker.hashGetAll(ns + "h") == ["b": "1"])
            #expect(try await broker.execute(.script(Self.kinds, keys: [ns + "h"], arguments: ["nil"])) == .null)
            #expect(try await broker.execute(.script(Self.kinds, keys: [ns + "h"], arguments: ["list"])) == .strings(["b"]))
            #expect(try await broker.execute(.script(Self.kinds, keys: [ns + "missing"], arguments: ["list"])) == .strings([]))
            try await broker.set(ns + "s", to: "text")
            #expect(try await broker.execute(.script(Self.kinds, keys: [ns + "s"], arguments: ["string"])) == .string("text"))
            // Inside a batch (Redis: EVAL within MULTI) the answers are the same.
            let values = try await broker.execute([
                .script(Self.counter, keys: [ns + "h2"], arguments: ["x", "5"]),
                .script(Self.kinds, keys: [ns + "h2"], arguments: ["list"]),
            ], atomically: true)
            #expect(values == [.int(5), .strings(["x"])])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func aScriptOnAKeyOfTheWrongTypeFails(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            try await broker.set(ns + "s", to: "text")
            await #expect(throws: BrokerError.self) {
                try await broker.execute(.script(Self.counter, keys: [ns + "s"], arguments: ["a", "1"]))
            }
            // The broker keeps serving.
            #expect(try await broker.execute(.script(Self.counter, keys: [ns + "h"], arguments: ["a", "1"])) == .int(1))
            await #expect(throws: BrokerError.self) {
                try await broker.execute(.script(Self.counter, keys: [], arguments: ["a", "1"]))
            }
        }
    }

    /// Many clients racing on one counter: every script sees the effect of the others, so
    /// exactly one of them takes it from 0 to 1 and exactly one from 1 to 0.
    @Test(arguments: BrokerKind.allCases)
    func scriptsAreAtomicUnderConcurrency(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let results = try await withThrowingTaskGroup(of: BrokerValue.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await broker.execute(.script(Self.counter, keys: [ns + "h"], arguments: ["u", "1"])) }
                }
                return try await group.reduce(into: [BrokerValue]()) { $0.append($1) }
            }
            #expect(Set(results) == Set((1...50).map { BrokerValue.int($0) }))
            #expect(try await broker.hashGet(ns + "h", field: "u") == "50")
        }
    }
}
