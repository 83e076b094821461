import BrokerCore

/// Hash and set commands. A collection that becomes empty removes its key.
extension KeyStore {
    /// `HSET`. - Returns: how many fields were new.
    mutating func hashSet(_ key: String, fields: [String: String], at now: Instant, command: String) throws -> Int {
        try update(key, at: now, command: command) { (hash: inout Hash) in
            var added = 0
            for (field, value) in fields where hash.updateValue(value, forKey: ExactString(field)) == nil {
                added += 1
            }
            return added
        }
    }

    /// `HDEL`. - Returns: how many fields were removed.
    mutating func hashDelete(_ key: String, fields: [String], at now: Instant, command: String) throws -> Int {
        try update(key, at: now, command: command) { (hash: inout Hash) in
            var removed = 0
            for field in fields where hash.removeValue(forKey: ExactString(field)) != nil {
                removed += 1
            }
            return removed
        }
    }

    /// `HINCRBY`: a missing field counts as 0. - Returns: the field's new value.
    mutating func hashIncrementBy(
        _ key: String, field: String, amount: Int, at now: Instant, command: String
    ) throws -> Int {
        try update(key, at: now, command: command) { (hash: inout Hash) in
            let field = ExactString(field)
            let result = try Self.add(amount, to: hash[field] ?? "0", command: command, what: "hash value")
            hash[field] = String(result)
            return result
        }
    }

    /// `SADD`. - Returns: how many members were new.
    mutating func setAdd(_ key: String, members: [String], at now: Instant, command: String) throws -> Int {
        try update(key, at: now, command: command) { (set: inout Members) in
            var added = 0
            for member in members where set.insert(ExactString(member)).inserted {
                added += 1
            }
            return added
        }
    }

    /// `SREM`. - Returns: how many members were removed.
    mutating func setRemove(_ key: String, members: [String], at now: Instant, command: String) throws -> Int {
        try update(key, at: now, command: command) { (set: inout Members) in
            var removed = 0
            for member in members where set.remove(ExactString(member)) != nil {
                removed += 1
            }
            return removed
        }
    }
}
