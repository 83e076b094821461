import BrokerCore

/// A stream: entries in id order, and consumer groups with their pending entries, as
/// Redis keeps them (`XADD`, `XGROUP`, `XREADGROUP`, `XACK`, `XAUTOCLAIM`).
struct StreamValue {
    /// An entry id: milliseconds and a sequence number, ordered as Redis orders them.
    struct ID: Comparable, Hashable, CustomStringConvertible {
        var milliseconds: UInt64
        var sequence: UInt64

        static let zero = ID(milliseconds: 0, sequence: 0)

        static func < (lhs: ID, rhs: ID) -> Bool {
            (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
        }

        init(milliseconds: UInt64, sequence: UInt64) {
            self.milliseconds = milliseconds
            self.sequence = sequence
        }

        /// Reads `ms-seq` (or `ms`, sequence 0), as `XACK` takes them.
        init?(_ text: String) {
            let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let milliseconds = UInt64(parts[0]) else { return nil }
            let sequence = parts.count > 1 ? UInt64(parts[1]) : 0
            guard let sequence else { return nil }
            self.init(milliseconds: milliseconds, sequence: sequence)
        }

        var description: String { "\(milliseconds)-\(sequence)" }
    }

    struct Entry {
        var id: ID
        var fields: [String: String]
    }

    struct Pending {
        var consumer: String
        /// When a consumer last received it.
        var deliveredAt: ContinuousClock.Instant
    }

    struct Group {
        /// The newest entry delivered to the group.
        var lastDelivered = ID.zero
        /// Delivered, not yet acknowledged.
        var pending: [ID: Pending] = [:]
    }

    /// Oldest first; `entries[start...]` are live, the slots before it wait to be compacted.
    private var entries: [Entry] = []
    private var start = 0
    private(set) var lastID = ID.zero
    var groups: [ExactString: Group] = [:]

    var count: Int { entries.count - start }

    /// Appends an entry with an id after every earlier one, then keeps the newest `maxLength`.
    mutating func append(_ fields: [String: String], milliseconds: UInt64, maxLength: Int) -> ID {
        let id = milliseconds > lastID.milliseconds
            ? ID(milliseconds: milliseconds, sequence: 0)
            : ID(milliseconds: lastID.milliseconds, sequence: lastID.sequence + 1)
        lastID = id
        entries.append(Entry(id: id, fields: fields))
        if count > maxLength { start += count - maxLength }
        if start > 64, start * 2 > entries.count {
            entries.removeFirst(start)
            start = 0
        }
        return id
    }

    /// The live entries, oldest first.
    var live: ArraySlice<Entry> { entries[start...] }

    /// The live entry with `id`, if it was not trimmed.
    func entry(_ id: ID) -> Entry? {
        let live = self.live
        var low = live.startIndex
        var high = live.endIndex
        while low < high {
            let middle = (low + high) / 2
            if live[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low < live.endIndex && live[low].id == id ? live[low] : nil
    }
}

extension StreamValue: KeyStoreCollection {
    /// A stream key stays when its entries are gone, as in Redis.
    var isEmpty: Bool { false }

    static func extract(from value: KeyStore.Value) -> StreamValue? {
        if case .stream(let stream) = value { return stream }
        return nil
    }

    var storedValue: KeyStore.Value { .stream(self) }
}

extension KeyStore {
    /// `XADD`, ids made from `now` (milliseconds of the store's monotonic clock: increasing and
    /// unique, like Redis's; callers treat them as opaque). - Returns: the new id.
    mutating func streamAdd(_ key: String, fields: [String: String], maxLength: Int, at now: Instant, command: String) throws -> String {
        let milliseconds = UInt64(max(0, BrokerCommand.milliseconds(now - Self.streamEpoch) ?? 0))
        return try update(key, at: now, command: command) { (stream: inout StreamValue) in
            stream.append(fields, milliseconds: milliseconds, maxLength: maxLength).description
        }
    }

    /// `XGROUP CREATE … 0 MKSTREAM`. - Returns: whether the group is new.
    mutating func streamCreateGroup(_ key: String, group: String, at now: Instant, command: String) throws -> Bool {
        try update(key, at: now, command: command) { (stream: inout StreamValue) in
            let name = ExactString(group)
            guard stream.groups[name] == nil else { return false }
            stream.groups[name] = StreamValue.Group()
            return true
        }
    }

    /// `XREADGROUP … >`.
    mutating func streamReadGroup(_ key: String, group: String, consumer: String, count: Int, at now: Instant, command: String) throws -> [BrokerStreamEntry] {
        try withGroup(key, group, at: now, command: command) { stream, group in
            let after = group.lastDelivered
            let fresh = stream.live.lazy.filter { $0.id > after }.prefix(count)
            var delivered: [BrokerStreamEntry] = []
            for entry in fresh {
                group.pending[entry.id] = StreamValue.Pending(consumer: consumer, deliveredAt: now)
                group.lastDelivered = entry.id
                delivered.append(BrokerStreamEntry(id: entry.id.description, fields: entry.fields))
            }
            return delivered
        }
    }

    /// `XACK`. - Returns: how many of `ids` were pending.
    mutating func streamAcknowledge(_ key: String, group: String, ids: [String], at now: Instant, command: String) throws -> Int {
        let parsed = try Self.streamIDs(ids, command: command)
        // A missing key or group acknowledges nothing (no error, as in Redis).
        guard try collection(key, as: StreamValue.self, at: now, command: command).groups[ExactString(group)] != nil else { return 0 }
        return try withGroup(key, group, at: now, command: command) { _, group in
            parsed.reduce(0) { acknowledged, id in acknowledged + (group.pending.removeValue(forKey: id) == nil ? 0 : 1) }
        }
    }

    /// `XAUTOCLAIM … 0-0 COUNT count`.
    mutating func streamAutoClaim(
        _ key: String, group: String, consumer: String, minIdle: Duration, count: Int, at now: Instant, command: String
    ) throws -> [BrokerStreamEntry] {
        try withGroup(key, group, at: now, command: command) { stream, group in
            var claimed: [BrokerStreamEntry] = []
            for id in group.pending.keys.sorted() {
                guard claimed.count < count else { break }
                guard let pending = group.pending[id], now - pending.deliveredAt >= minIdle else { continue }
                guard let entry = stream.entry(id) else {
                    group.pending[id] = nil  // trimmed from the stream meanwhile
                    continue
                }
                group.pending[id] = StreamValue.Pending(consumer: consumer, deliveredAt: now)
                claimed.append(BrokerStreamEntry(id: id.description, fields: entry.fields))
            }
            return claimed
        }
    }

    /// `XCLAIM … 0 id… JUSTID`.
    mutating func streamClaim(_ key: String, group: String, consumer: String, ids: [String], at now: Instant, command: String) throws -> [String] {
        let parsed = try Self.streamIDs(ids, command: command)
        return try withGroup(key, group, at: now, command: command) { stream, group in
            var claimed: [String] = []
            for id in parsed where group.pending[id] != nil {
                guard stream.entry(id) != nil else {
                    group.pending[id] = nil
                    continue
                }
                group.pending[id] = StreamValue.Pending(consumer: consumer, deliveredAt: now)
                claimed.append(id.description)
            }
            return claimed
        }
    }

    /// Reads ids as `XACK` and `XCLAIM` take them.
    private static func streamIDs(_ ids: [String], command: String) throws -> [StreamValue.ID] {
        try ids.map { text in
            guard let id = StreamValue.ID(text) else {
                throw BrokerError(.commandFailed, "\(command): Invalid stream ID specified as stream command argument")
            }
            return id
        }
    }

    /// `XRANGE - + COUNT count`.
    mutating func streamRange(_ key: String, count: Int, at now: Instant, command: String) throws -> [BrokerStreamEntry] {
        try collection(key, as: StreamValue.self, at: now, command: command).live.prefix(count).map {
            BrokerStreamEntry(id: $0.id.description, fields: $0.fields)
        }
    }

    /// Runs `body` on the stream at `key` and its group `group`.
    /// - Throws: `NOGROUP` (`.commandFailed`) when either does not exist, as Redis answers.
    private mutating func withGroup<Result>(
        _ key: String, _ group: String, at now: Instant, command: String,
        _ body: (StreamValue, inout StreamValue.Group) throws -> Result
    ) throws -> Result {
        let noGroup = BrokerError(.commandFailed, "\(command): NOGROUP No such key '\(key)' or consumer group '\(group)'")
        guard exists(key, at: now) else { throw noGroup }
        return try update(key, at: now, command: command) { (stream: inout StreamValue) in
            let name = ExactString(group)
            guard var state = stream.groups.removeValue(forKey: name) else { throw noGroup }
            defer { stream.groups[name] = state }
            return try body(stream, &state)
        }
    }

    /// The instant stream ids count their milliseconds from (any fixed instant will do).
    private static let streamEpoch = ContinuousClock.now
}
