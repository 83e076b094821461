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
    /// `XADD key MAXLEN ~ maxLength * field value…`: appends an entry, trimming the oldest so
    /// that about `maxLength` stay (at least `maxLength`; Redis trims whole blocks).
    /// → `.string` the new entry's id (increasing; opaque).
    case streamAdd(key: String, fields: [String: String], maxLength: Int)
    /// `XGROUP CREATE key group 0 MKSTREAM`: a consumer group that will read the stream from
    /// its start, creating an empty stream when there is none.
    /// → `.bool(true)` created, `.bool(false)` the group already existed.
    case streamCreateGroup(key: String, group: String)
    /// `XREADGROUP GROUP group consumer COUNT count STREAMS key >`: up to `count` entries never
    /// delivered to the group, oldest first, now pending for `consumer` until acknowledged.
    /// Never blocks. → `.entries` (empty when none). Fails when the group does not exist.
    case streamReadGroup(key: String, group: String, consumer: String, count: Int)
    /// `XACK key group id…`. → `.int` how many were pending and are no longer.
    case streamAcknowledge(key: String, group: String, ids: [String])
    /// `XAUTOCLAIM key group consumer minIdle 0-0 COUNT count`: up to `count` pending
    /// entries of the group that no consumer touched for `minIdle`, oldest first, now
    /// pending for `consumer` (their idle time starts again). Pending entries trimmed from
    /// the stream meanwhile are dropped from the group, not returned. → `.entries`.
    case streamAutoClaim(key: String, group: String, consumer: String, minIdle: Duration, count: Int)
    /// `XCLAIM key group consumer 0 id… JUSTID`: the entries `ids` that are pending in the
    /// group become `consumer`'s, and their idle time starts again (a worker keeps what it is
    /// still working on from being claimed by others). → `.strings` the ids claimed (those
    /// no longer pending, or trimmed from the stream, are left out).
    case streamClaim(key: String, group: String, consumer: String, ids: [String])
    /// `XLEN`. → `.int` (0 when the key does not exist).
    case streamLength(key: String)
    /// `XRANGE key - + COUNT count`. → `.entries`, oldest first.
    case streamRange(key: String, count: Int)
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
    case entries([BrokerStreamEntry])
}

/// One entry of a stream: its id and its fields.
public struct BrokerStreamEntry: Sendable, Hashable {
    public var id: String
    public var fields: [String: String]

    public init(id: String, fields: [String: String]) {
        self.id = id
        self.fields = fields
    }
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
        case .streamAdd: "XADD"
        case .streamCreateGroup: "XGROUP CREATE"
        case .streamReadGroup: "XREADGROUP"
        case .streamAcknowledge: "XACK"
        case .streamAutoClaim: "XAUTOCLAIM"
        case .streamClaim: "XCLAIM"
        case .streamLength: "XLEN"
        case .streamRange: "XRANGE"
        case .script(let script, _, _): "EVAL \(script.name)"
        }
    }
}
