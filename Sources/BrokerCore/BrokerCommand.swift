/// One key, hash or set operation. Results are documented per case as the
/// ``BrokerValue`` they produce.
public enum BrokerCommand: Sendable, Hashable {
    /// → `.string` or `.null`.
    case get(key: String)
    /// → `.ok`. With `ttl`, the key expires after it (millisecond precision).
    case set(key: String, value: String, ttl: Duration? = nil)
    /// → `.bool(true)` when the key did not exist and was set (a lock acquire).
    case setIfAbsent(key: String, value: String, ttl: Duration? = nil)
    /// → `.int` number of keys removed.
    case delete(keys: [String])
    /// → `.bool(true)` when the key held exactly `value` and was removed (a lock release).
    case deleteIfEquals(key: String, value: String)
    /// → `.bool(true)` when the key exists and now expires after `ttl`.
    case expire(key: String, ttl: Duration)
    /// → `.int` milliseconds left; `-1` no expiry; `-2` no such key (Redis `PTTL`).
    case ttl(key: String)
    /// → `.int` the new value.
    case incrementBy(key: String, amount: Int)
    /// → `.int` number of fields that were new.
    case hashSet(key: String, fields: [String: String])
    /// `HSET` only if the key exists (as a hash): never re-creates a key someone deleted.
    /// → `.bool` whether it was written.
    case hashSetIfExists(key: String, fields: [String: String])
    /// → `.string` or `.null`.
    case hashGet(key: String, field: String)
    /// → `.hash` (empty when the key does not exist).
    case hashGetAll(key: String)
    /// → `.int` number of fields removed.
    case hashDelete(key: String, fields: [String])
    /// → `.int` the field's new value.
    case hashIncrementBy(key: String, field: String, amount: Int)
    /// → `.int` number of fields.
    case hashLength(key: String)
    /// → `.int` number of members that were new.
    case setAdd(key: String, members: [String])
    /// → `.int` number of members removed.
    case setRemove(key: String, members: [String])
    /// → `.strings` (unordered; empty when the key does not exist).
    case setMembers(key: String)
    /// → `.int`.
    case setCardinality(key: String)
    /// → `.bool`.
    case setIsMember(key: String, member: String)
    /// Runs `script` atomically with `keys` (every key it touches) and `arguments`.
    /// → what the script returns: `.int`, `.string`, `.strings` or `.null`.
    case script(BrokerScript, keys: [String], arguments: [String])
}

/// The result of one ``BrokerCommand``.
public enum BrokerValue: Sendable, Hashable {
    case null
    case ok
    case bool(Bool)
    case int(Int)
    case string(String)
    case strings([String])
    case hash([String: String])
}

extension BrokerCommand {
    /// The command's name as Redis spells it, for errors and logs.
    package var name: String {
        switch self {
        case .get: "GET"
        case .set: "SET"
        case .setIfAbsent: "SET NX"
        case .delete: "DEL"
        case .deleteIfEquals: "DELIFEQ"
        case .expire: "PEXPIRE"
        case .ttl: "PTTL"
        case .incrementBy: "INCRBY"
        case .hashSet: "HSET"
        case .hashSetIfExists: "HSET XX"
        case .hashGet: "HGET"
        case .hashGetAll: "HGETALL"
        case .hashDelete: "HDEL"
        case .hashIncrementBy: "HINCRBY"
        case .hashLength: "HLEN"
        case .setAdd: "SADD"
        case .setRemove: "SREM"
        case .setMembers: "SMEMBERS"
        case .setCardinality: "SCARD"
        case .setIsMember: "SISMEMBER"
        case .script(let script, _, _): "EVAL \(script.name)"
        }
    }
}
