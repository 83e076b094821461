// Shared by both brokers so they reject exactly the same input (moved here from BrokerEmbedded).

extension BrokerCommand {
    /// Rejects what Redis would refuse before running anything: empty key, field or member
    /// lists (a wrong number of arguments) and a non-positive or unrepresentable TTL on `SET`.
    /// - Throws: ``BrokerError/Code/invalidArgument``.
    package func validate() throws {
        switch self {
        case .set(_, _, let ttl?), .setIfAbsent(_, _, let ttl?):
            guard let milliseconds = Self.milliseconds(ttl), milliseconds > 0 else {
                throw BrokerError(.invalidArgument, "\(name): invalid expire time")
            }
        case .expire(_, let ttl):
            guard Self.milliseconds(ttl) != nil else {
                throw BrokerError(.invalidArgument, "\(name): invalid expire time")
            }
        case .delete(let keys):
            try Self.requireNonEmpty(keys.isEmpty, name, "keys")
        case .hashSet(_, let fields), .hashSetIfExists(_, let fields):
            try Self.requireNonEmpty(fields.isEmpty, name, "fields")
        case .hashDelete(_, let fields):
            try Self.requireNonEmpty(fields.isEmpty, name, "fields")
        case .setAdd(_, let members), .setRemove(_, let members):
            try Self.requireNonEmpty(members.isEmpty, name, "members")
        case .streamAdd(_, let fields, let maxLength):
            try Self.requireNonEmpty(fields.isEmpty, name, "fields")
            try Self.requirePositive(maxLength, name, "MAXLEN")
        case .streamReadGroup(_, _, _, let count), .streamRange(_, let count):
            try Self.requirePositive(count, name, "COUNT")
        case .streamAutoClaim(_, _, _, let minIdle, let count):
            try Self.requirePositive(count, name, "COUNT")
            guard let milliseconds = Self.milliseconds(minIdle), milliseconds >= 0 else {
                throw BrokerError(.invalidArgument, "\(name): invalid min-idle-time")
            }
        case .streamAcknowledge(_, _, let ids), .streamClaim(_, _, _, let ids):
            try Self.requireNonEmpty(ids.isEmpty, name, "ids")
        case .script(let script, let keys, _):
            try Self.requireNonEmpty(keys.isEmpty, name, "keys")
            guard !script.name.isEmpty, !script.lua.isEmpty else {
                throw BrokerError(.invalidArgument, "a script needs a name and a Lua source")
            }
        default:
            break
        }
    }

    private static func requirePositive(_ value: Int, _ name: String, _ what: String) throws {
        if value <= 0 { throw BrokerError(.invalidArgument, "\(name): \(what) must be positive") }
    }

    private static func requireNonEmpty(_ isEmpty: Bool, _ name: String, _ what: String) throws {
        if isEmpty { throw BrokerError(.invalidArgument, "\(name) needs at least one of its \(what)") }
    }

    /// `duration` in whole milliseconds, rounded up (so a positive duration is never 0 ms),
    /// or `nil` when it does not fit in `Int64` milliseconds.
    package static func milliseconds(_ duration: Duration) -> Int64? {
        let (seconds, attoseconds) = duration.components
        let (wholeMilliseconds, overflow1) = seconds.multipliedReportingOverflow(by: 1_000)
        let perMillisecond: Int64 = 1_000_000_000_000_000
        var fraction = attoseconds / perMillisecond
        // Components share one sign and truncate toward zero: only positive remainders round up.
        if attoseconds % perMillisecond > 0 { fraction += 1 }
        let (total, overflow2) = wholeMilliseconds.addingReportingOverflow(fraction)
        guard !overflow1, !overflow2 else { return nil }
        return total
    }
}
