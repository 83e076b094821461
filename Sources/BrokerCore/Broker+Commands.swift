/// Typed one-command helpers over ``Broker/execute(_:atomically:)``.
extension Broker {
    /// Runs one command.
    package func execute(_ command: BrokerCommand) async throws -> BrokerValue {
        let values = try await execute([command], atomically: false)
        guard let first = values.first else {
            throw BrokerError(.commandFailed, "\(command.name) returned no value")
        }
        return first
    }

    package func get(_ key: String) async throws -> String? {
        try await execute(.get(key: key)).expectOptionalString(for: "GET")
    }

    package func set(_ key: String, to value: String, ttl: Duration? = nil) async throws {
        _ = try await execute(.set(key: key, value: value, ttl: ttl))
    }

    /// Sets `key` only if it does not exist. - Returns: whether it was set.
    package func setIfAbsent(_ key: String, to value: String, ttl: Duration? = nil) async throws -> Bool {
        try await execute(.setIfAbsent(key: key, value: value, ttl: ttl)).expectBool(for: "SET NX")
    }

    @discardableResult
    package func delete(_ keys: String...) async throws -> Int {
        try await execute(.delete(keys: keys)).expectInt(for: "DEL")
    }

    /// Removes `key` only if it holds `value`. - Returns: whether it was removed.
    @discardableResult
    package func deleteIfEquals(_ key: String, value: String) async throws -> Bool {
        try await execute(.deleteIfEquals(key: key, value: value)).expectBool(for: "DELIFEQ")
    }

    @discardableResult
    package func expire(_ key: String, after ttl: Duration) async throws -> Bool {
        try await execute(.expire(key: key, ttl: ttl)).expectBool(for: "PEXPIRE")
    }

    /// Milliseconds until `key` expires; `-1` no expiry; `-2` no such key.
    package func ttl(_ key: String) async throws -> Int {
        try await execute(.ttl(key: key)).expectInt(for: "PTTL")
    }

    @discardableResult
    package func increment(_ key: String, by amount: Int = 1) async throws -> Int {
        try await execute(.incrementBy(key: key, amount: amount)).expectInt(for: "INCRBY")
    }

    @discardableResult
    package func hashSet(_ key: String, _ fields: [String: String]) async throws -> Int {
        try await execute(.hashSet(key: key, fields: fields)).expectInt(for: "HSET")
    }

    package func hashGet(_ key: String, field: String) async throws -> String? {
        try await execute(.hashGet(key: key, field: field)).expectOptionalString(for: "HGET")
    }

    package func hashGetAll(_ key: String) async throws -> [String: String] {
        try await execute(.hashGetAll(key: key)).expectHash(for: "HGETALL")
    }

    @discardableResult
    package func hashDelete(_ key: String, fields: [String]) async throws -> Int {
        try await execute(.hashDelete(key: key, fields: fields)).expectInt(for: "HDEL")
    }

    @discardableResult
    package func hashIncrement(_ key: String, field: String, by amount: Int = 1) async throws -> Int {
        try await execute(.hashIncrementBy(key: key, field: field, amount: amount)).expectInt(for: "HINCRBY")
    }

    package func hashLength(_ key: String) async throws -> Int {
        try await execute(.hashLength(key: key)).expectInt(for: "HLEN")
    }

    @discardableResult
    package func setAdd(_ key: String, _ members: [String]) async throws -> Int {
        try await execute(.setAdd(key: key, members: members)).expectInt(for: "SADD")
    }

    @discardableResult
    package func setRemove(_ key: String, _ members: [String]) async throws -> Int {
        try await execute(.setRemove(key: key, members: members)).expectInt(for: "SREM")
    }

    package func setMembers(_ key: String) async throws -> Set<String> {
        Set(try await execute(.setMembers(key: key)).expectStrings(for: "SMEMBERS"))
    }

    package func setCardinality(_ key: String) async throws -> Int {
        try await execute(.setCardinality(key: key)).expectInt(for: "SCARD")
    }

    package func setIsMember(_ key: String, _ member: String) async throws -> Bool {
        try await execute(.setIsMember(key: key, member: member)).expectBool(for: "SISMEMBER")
    }

    /// `XADD … MAXLEN ~ maxLength`. - Returns: the new entry's id.
    package func streamAdd(_ key: String, _ fields: [String: String], maxLength: Int) async throws -> String {
        guard let id = try await execute(.streamAdd(key: key, fields: fields, maxLength: maxLength)).expectOptionalString(for: "XADD") else {
            throw BrokerError(.commandFailed, "XADD returned no id")
        }
        return id
    }

    /// `XGROUP CREATE … MKSTREAM`. - Returns: whether the group is new.
    package func streamCreateGroup(_ key: String, group: String) async throws -> Bool {
        try await execute(.streamCreateGroup(key: key, group: group)).expectBool(for: "XGROUP CREATE")
    }

    package func streamReadGroup(_ key: String, group: String, consumer: String, count: Int) async throws -> [BrokerStreamEntry] {
        try await execute(.streamReadGroup(key: key, group: group, consumer: consumer, count: count)).expectEntries(for: "XREADGROUP")
    }

    package func streamAcknowledge(_ key: String, group: String, ids: [String]) async throws -> Int {
        try await execute(.streamAcknowledge(key: key, group: group, ids: ids)).expectInt(for: "XACK")
    }

    package func streamAutoClaim(_ key: String, group: String, consumer: String, minIdle: Duration, count: Int) async throws -> [BrokerStreamEntry] {
        try await execute(.streamAutoClaim(key: key, group: group, consumer: consumer, minIdle: minIdle, count: count)).expectEntries(for: "XAUTOCLAIM")
    }

    package func streamClaim(_ key: String, group: String, consumer: String, ids: [String]) async throws -> [String] {
        try await execute(.streamClaim(key: key, group: group, consumer: consumer, ids: ids)).expectStrings(for: "XCLAIM")
    }

    package func streamLength(_ key: String) async throws -> Int {
        try await execute(.streamLength(key: key)).expectInt(for: "XLEN")
    }

    package func streamRange(_ key: String, count: Int) async throws -> [BrokerStreamEntry] {
        try await execute(.streamRange(key: key, count: count)).expectEntries(for: "XRANGE")
    }
}

extension BrokerValue {
    func mismatch(_ command: String) -> BrokerError {
        BrokerError(.commandFailed, "\(command) returned an unexpected value of kind \(kind)")
    }

    var kind: String {
        switch self {
        case .null: "null"
        case .ok: "ok"
        case .bool: "bool"
        case .int: "int"
        case .string: "string"
        case .strings: "strings"
        case .hash: "hash"
        case .entries: "entries"
        }
    }

    package func expectEntries(for command: String) throws -> [BrokerStreamEntry] {
        guard case .entries(let value) = self else { throw mismatch(command) }
        return value
    }

    package func expectInt(for command: String) throws -> Int {
        guard case .int(let value) = self else { throw mismatch(command) }
        return value
    }

    package func expectBool(for command: String) throws -> Bool {
        guard case .bool(let value) = self else { throw mismatch(command) }
        return value
    }

    package func expectOptionalString(for command: String) throws -> String? {
        switch self {
        case .string(let value): return value
        case .null: return nil
        default: throw mismatch(command)
        }
    }

    package func expectStrings(for command: String) throws -> [String] {
        guard case .strings(let value) = self else { throw mismatch(command) }
        return value
    }

    package func expectHash(for command: String) throws -> [String: String] {
        guard case .hash(let value) = self else { throw mismatch(command) }
        return value
    }
}
