import BrokerCore

/// The embedded broker's keyspace: typed values with optional deadlines.
///
/// A plain value type with no I/O and no clock of its own: every operation is given
/// `now`, so one critical section sees one instant (as Redis does inside `MULTI`).
/// Keys, fields and members are compared by their bytes (``ExactString``), as in Redis.
/// Keys are expired lazily when touched and actively by ``removeExpired(at:limit:)``.
struct KeyStore {
    typealias Instant = ContinuousClock.Instant

    typealias Hash = [ExactString: String]
    typealias Members = Set<ExactString>

    enum Value {
        case string(String)
        case hash(Hash)
        case set(Members)
        case stream(StreamValue)
    }

    struct Entry {
        var value: Value
        /// When the key stops existing; `nil` for no TTL.
        var expiresAt: Instant?
    }

    /// The keyspace. Extensions change values here directly, but deadlines only through
    /// ``store(_:for:expiresAt:)`` and ``setDeadline(_:at:)`` so the sweep sees them.
    var entries: [ExactString: Entry] = [:]
    private var expiries = ExpiryQueue()

    /// The index of `key`'s entry if it exists and has not expired at `now`;
    /// an expired entry is removed on the way.
    mutating func liveIndex(of key: String, at now: Instant) -> Dictionary<ExactString, Entry>.Index? {
        guard let index = entries.index(forKey: ExactString(key)) else { return nil }
        if let deadline = entries.values[index].expiresAt, now > deadline {
            entries.remove(at: index)
            return nil
        }
        return index
    }

    /// Whether `key` exists at `now`.
    mutating func exists(_ key: String, at now: Instant) -> Bool {
        liveIndex(of: key, at: now) != nil
    }

    /// Stores `value` under `key`, replacing any value of any type, with the given deadline
    /// (`nil` clears a previous TTL, like Redis `SET`).
    mutating func store(_ value: Value, for key: String, expiresAt deadline: Instant?) {
        entries[ExactString(key)] = Entry(value: value, expiresAt: deadline)
        if let deadline { scheduleExpiry(of: key, at: deadline) }
    }

    /// Sets or clears the deadline of an existing entry.
    mutating func setDeadline(_ deadline: Instant?, at index: Dictionary<ExactString, Entry>.Index) {
        entries.values[index].expiresAt = deadline
        if let deadline { scheduleExpiry(of: entries.keys[index].string, at: deadline) }
    }

    /// Removes the entry at `index`.
    mutating func remove(at index: Dictionary<ExactString, Entry>.Index) {
        entries.remove(at: index)
    }

    /// Removes keys whose deadline has passed at `now`, looking at no more than `limit`
    /// due deadlines (so one call holds the lock for a bounded time).
    /// - Returns: how many keys were removed, and whether due deadlines may remain.
    mutating func removeExpired(at now: Instant, limit: Int) -> (removed: Int, more: Bool) {
        var removed = 0
        for _ in 0..<limit {
            guard let item = expiries.popExpired(at: now) else { return (removed, false) }
            guard let index = entries.index(forKey: ExactString(item.key)),
                  entries.values[index].expiresAt == item.deadline
            else { continue }  // stale: the key was deleted or its TTL changed
            entries.remove(at: index)
            removed += 1
        }
        return (removed, true)
    }

    /// Every live key at `now` that `pattern` matches.
    mutating func keys(matching pattern: GlobPattern, at now: Instant) -> [String] {
        var matched: [String] = []
        var expired: [ExactString] = []
        // Redis answers `*` without consulting the matcher, so it includes the empty key.
        let matchesAll = pattern.pattern == "*"
        for (key, entry) in entries {
            if let deadline = entry.expiresAt, now > deadline {
                expired.append(key)
            } else if matchesAll || pattern.matches(key.string) {
                matched.append(key.string)
            }
        }
        for key in expired { entries[key] = nil }
        return matched
    }

    private mutating func scheduleExpiry(of key: String, at deadline: Instant) {
        expiries.insert(key, at: deadline)
        // Each TTL change leaves a stale item behind; keep the queue proportional to the keyspace.
        if expiries.count > 2 * entries.count + 1_024 {
            expiries.rebuild(entries.compactMap { key, entry in
                entry.expiresAt.map { ExpiryQueue.Item(deadline: $0, key: key.string) }
            })
        }
    }
}
