import BrokerCore

/// A value type a key can hold besides strings: a hash or a set.
protocol KeyStoreCollection {
    init()
    var isEmpty: Bool { get }
    /// The collection in `value`, or `nil` when `value` is of another type.
    static func extract(from value: KeyStore.Value) -> Self?
    var storedValue: KeyStore.Value { get }
}

extension Dictionary: KeyStoreCollection where Key == ExactString, Value == String {
    static func extract(from value: KeyStore.Value) -> Self? {
        if case .hash(let hash) = value { return hash }
        return nil
    }

    var storedValue: KeyStore.Value { .hash(self) }
}

extension Set: KeyStoreCollection where Element == ExactString {
    static func extract(from value: KeyStore.Value) -> Self? {
        if case .set(let set) = value { return set }
        return nil
    }

    var storedValue: KeyStore.Value { .set(self) }
}

extension KeyStore {
    /// The error Redis answers when a command meets a key of another type.
    static func wrongType(_ command: String) -> BrokerError {
        BrokerError(.wrongType, "\(command): WRONGTYPE Operation against a key holding the wrong kind of value")
    }

    /// The string at `key`, `nil` when there is none.
    /// - Throws: ``BrokerError/Code/wrongType`` when the key holds a hash or set.
    mutating func string(_ key: String, at now: Instant, command: String) throws -> String? {
        guard let index = liveIndex(of: key, at: now) else { return nil }
        guard case .string(let string) = entries.values[index].value else { throw Self.wrongType(command) }
        return string
    }

    /// The hash or set at `key`, empty when there is none.
    /// - Throws: ``BrokerError/Code/wrongType`` when the key holds another type.
    mutating func collection<C: KeyStoreCollection>(
        _ key: String, as type: C.Type = C.self, at now: Instant, command: String
    ) throws -> C {
        guard let index = liveIndex(of: key, at: now) else { return C() }
        guard let collection = C.extract(from: entries.values[index].value) else {
            throw Self.wrongType(command)
        }
        return collection
    }

    /// Runs `body` on the hash or set at `key` in place (on an empty one when the key does
    /// not exist), then stores it back keeping its TTL, or removes the key when it ended up
    /// empty, as Redis does. If `body` throws, it must not have changed the collection.
    mutating func update<C: KeyStoreCollection, Result>(
        _ key: String,
        as type: C.Type = C.self,
        at now: Instant,
        command: String,
        _ body: (inout C) throws -> Result
    ) throws -> Result {
        guard let index = liveIndex(of: key, at: now) else {
            var collection = C()
            let result = try body(&collection)
            if !collection.isEmpty { store(collection.storedValue, for: key, expiresAt: nil) }
            return result
        }
        guard var collection = C.extract(from: entries.values[index].value) else {
            throw Self.wrongType(command)
        }
        // Drop the stored reference so `collection` is uniquely referenced and mutates in place.
        entries.values[index].value = .string("")
        let result: Result
        do {
            result = try body(&collection)
        } catch {
            entries.values[index].value = collection.storedValue
            throw error
        }
        if collection.isEmpty {
            entries.remove(at: index)
        } else {
            entries.values[index].value = collection.storedValue
        }
        return result
    }

    /// The instant `ttl` after `now`, with `ttl` rounded up to whole milliseconds as Redis
    /// keeps it. `ttl` must have been validated (see ``BrokerCommand/validate()``).
    static func deadline(after ttl: Duration, from now: Instant) -> Instant {
        now.advanced(by: .milliseconds(BrokerCommand.milliseconds(ttl) ?? .max))
    }
}
