import BrokerCore

/// Commands on keys of any type, and string commands.
extension KeyStore {
    /// `DEL`: removes each live key. - Returns: how many existed.
    mutating func delete(_ keys: [String], at now: Instant) -> Int {
        var removed = 0
        for key in keys {
            guard let index = liveIndex(of: key, at: now) else { continue }
            remove(at: index)
            removed += 1
        }
        return removed
    }

    /// Removes `key` if it holds the string `value` (a lock release).
    /// - Throws: ``BrokerError/Code/wrongType`` when the key holds a hash or set.
    mutating func deleteIfEquals(_ key: String, value: String, at now: Instant, command: String) throws -> Bool {
        guard let current = try string(key, at: now, command: command), current.isIdentical(to: value),
              let index = liveIndex(of: key, at: now)
        else { return false }
        remove(at: index)
        return true
    }

    /// `PEXPIRE`: a non-positive `ttl` deletes the key, as in Redis.
    /// - Returns: whether the key existed.
    mutating func expire(_ key: String, after ttl: Duration, at now: Instant) -> Bool {
        guard let index = liveIndex(of: key, at: now) else { return false }
        if (BrokerCommand.milliseconds(ttl) ?? .max) <= 0 {
            remove(at: index)
        } else {
            setDeadline(Self.deadline(after: ttl, from: now), at: index)
        }
        return true
    }

    /// `PTTL`: milliseconds left (rounded up), `-1` without a TTL, `-2` without the key.
    mutating func timeToLive(_ key: String, at now: Instant) -> Int {
        guard let index = liveIndex(of: key, at: now) else { return -2 }
        guard let deadline = entries.values[index].expiresAt else { return -1 }
        return Int(BrokerCommand.milliseconds(now.duration(to: deadline)) ?? .max)
    }

    /// `INCRBY`: a missing key counts as 0; the TTL, if any, is kept.
    /// - Throws: `.commandFailed` when the value is not an integer or the result overflows.
    mutating func incrementBy(_ key: String, amount: Int, at now: Instant, command: String) throws -> Int {
        guard let index = liveIndex(of: key, at: now) else {
            store(.string(String(amount)), for: key, expiresAt: nil)
            return amount
        }
        guard case .string(let text) = entries.values[index].value else { throw Self.wrongType(command) }
        let result = try Self.add(amount, to: text, command: command, what: "value")
        entries.values[index].value = .string(String(result))
        return result
    }

    /// `current + amount` with Redis's errors for a non-integer `current` or an overflow.
    static func add(_ amount: Int, to current: String, command: String, what: String) throws -> Int {
        guard let value = RedisNumbers.integer(current) else {
            throw BrokerError(.commandFailed, "\(command): \(what) is not an integer")
        }
        let (sum, overflow) = value.addingReportingOverflow(Int64(amount))
        guard !overflow, let result = Int(exactly: sum) else {
            throw BrokerError(.commandFailed, "\(command): increment or decrement would overflow")
        }
        return result
    }
}
