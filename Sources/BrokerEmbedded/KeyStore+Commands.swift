import BrokerCore

extension KeyStore {
    /// Runs one validated command at `now`.
    /// - Returns: the value documented on the ``BrokerCommand`` case.
    /// - Throws: ``BrokerError`` (`.wrongType`, `.commandFailed`) as Redis would answer.
    mutating func execute(_ command: BrokerCommand, at now: Instant) throws -> BrokerValue {
        switch command {
        case .get(let key):
            return try string(key, at: now, command: command.name).map(BrokerValue.string) ?? .null
        case .set(let key, let value, let ttl):
            store(.string(value), for: key, expiresAt: ttl.map { Self.deadline(after: $0, from: now) })
            return .ok
        case .setIfAbsent(let key, let value, let ttl):
            guard !exists(key, at: now) else { return .bool(false) }
            store(.string(value), for: key, expiresAt: ttl.map { Self.deadline(after: $0, from: now) })
            return .bool(true)
        case .delete(let keys):
            return .int(delete(keys, at: now))
        case .deleteIfEquals(let key, let value):
            return .bool(try deleteIfEquals(key, value: value, at: now, command: command.name))
        case .expire(let key, let ttl):
            return .bool(expire(key, after: ttl, at: now))
        case .ttl(let key):
            return .int(timeToLive(key, at: now))
        case .incrementBy(let key, let amount):
            return .int(try incrementBy(key, amount: amount, at: now, command: command.name))
        case .hashSet(let key, let fields):
            return .int(try hashSet(key, fields: fields, at: now, command: command.name))
        case .hashSetIfExists(let key, let fields):
            guard exists(key, at: now) else { return .bool(false) }
            _ = try hashSet(key, fields: fields, at: now, command: command.name)
            return .bool(true)
        case .hashGet(let key, let field):
            let hash = try collection(key, as: Hash.self, at: now, command: command.name)
            return hash[ExactString(field)].map(BrokerValue.string) ?? .null
        case .hashGetAll(let key):
            let hash = try collection(key, as: Hash.self, at: now, command: command.name)
            // Fields that differ only in Unicode normalisation are one `String` key: keep one.
            return .hash(Dictionary(hash.map { ($0.key.string, $0.value) }, uniquingKeysWith: { first, _ in first }))
        case .hashDelete(let key, let fields):
            return .int(try hashDelete(key, fields: fields, at: now, command: command.name))
        case .hashIncrementBy(let key, let field, let amount):
            return .int(try hashIncrementBy(key, field: field, amount: amount, at: now, command: command.name))
        case .hashLength(let key):
            return .int(try collection(key, as: Hash.self, at: now, command: command.name).count)
        case .setAdd(let key, let members):
            return .int(try setAdd(key, members: members, at: now, command: command.name))
        case .setRemove(let key, let members):
            return .int(try setRemove(key, members: members, at: now, command: command.name))
        case .setMembers(let key):
            return .strings(try collection(key, as: Members.self, at: now, command: command.name).map(\.string))
        case .setCardinality(let key):
            return .int(try collection(key, as: Members.self, at: now, command: command.name).count)
        case .setIsMember(let key, let member):
            let members = try collection(key, as: Members.self, at: now, command: command.name)
            return .bool(members.contains(ExactString(member)))
        case .streamAdd(let key, let fields, let maxLength):
            return .string(try streamAdd(key, fields: fields, maxLength: maxLength, at: now, command: command.name))
        case .streamCreateGroup(let key, let group):
            return .bool(try streamCreateGroup(key, group: group, at: now, command: command.name))
        case .streamReadGroup(let key, let group, let consumer, let count):
            return .entries(try streamReadGroup(key, group: group, consumer: consumer, count: count, at: now, command: command.name))
        case .streamAcknowledge(let key, let group, let ids):
            return .int(try streamAcknowledge(key, group: group, ids: ids, at: now, command: command.name))
        case .streamAutoClaim(let key, let group, let consumer, let minIdle, let count):
            return .entries(try streamAutoClaim(key, group: group, consumer: consumer, minIdle: minIdle, count: count, at: now, command: command.name))
        case .streamClaim(let key, let group, let consumer, let ids):
            return .strings(try streamClaim(key, group: group, consumer: consumer, ids: ids, at: now, command: command.name))
        case .streamLength(let key):
            return .int(try collection(key, as: StreamValue.self, at: now, command: command.name).count)
        case .streamRange(let key, let count):
            return .entries(try streamRange(key, count: count, at: now, command: command.name))
        case .script(let script, let keys, let arguments):
            // The script runs on this very store: moved into a local that its commands mutate
            // (no copy of the store), and moved back however the script ends.
            var store = KeyStore()
            swap(&store, &self)
            defer { swap(&store, &self) }
            return try script.body(keys, arguments) { inner in
                try inner.validate()
                return try store.execute(inner, at: now)
            }
        }
    }
}
