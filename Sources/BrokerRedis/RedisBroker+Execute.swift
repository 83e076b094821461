import BrokerCore
import Redis
import Synchronization

extension RedisBroker {
    public func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue] {
        guard !commands.isEmpty else { return [] }
        for command in commands { try command.validate() }
        // A lone compare-and-delete uses the cached script (EVALSHA, NOSCRIPT fallback);
        // inside a batch the source travels with EVAL so MULTI cannot abort on NOSCRIPT.
        if commands.count == 1, case .deleteIfEquals(let key, let value) = commands[0] {
            let reply = try await mapErrors("DELIFEQ") {
                try await client.evaluate(Self.deleteIfEqualsScript, keys: [key], arguments: [.string(value)])
            }
            return [try Self.decode(reply, for: commands[0])]
        }
        if commands.count == 1, case .script(let script, let keys, let arguments) = commands[0] {
            let reply = try await mapErrors(commands[0].name) {
                try await client.evaluate(Self.cached(script), keys: keys, arguments: arguments.map { .string($0) })
            }
            return [try Self.decode(reply, for: commands[0])]
        }
        let redisCommands = commands.map(Self.redisCommand(for:))
        let replies = try await mapErrors(commands[0].name) {
            atomically ? try await client.transaction(redisCommands) : try await client.pipeline(redisCommands)
        }
        guard replies.count == commands.count else {
            throw BrokerError(.commandFailed, "expected \(commands.count) replies, got \(replies.count)")
        }
        return try zip(commands, replies).map { try Self.decode($1, for: $0) }
    }

    /// Runs `body`, turning Redis errors into broker errors.
    func mapErrors<T>(_ command: String, _ body: () async throws -> T) async throws -> T {
        try await Self.mapErrors(command, body)
    }

    /// Runs `body`, turning Redis errors into broker errors.
    static func mapErrors<T>(_ command: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RedisError {
            throw Self.brokerError(error, command: command)
        }
    }

    static func brokerError(_ error: RedisError, command: String) -> BrokerError {
        switch error.code {
        case .serverError:
            return serverError(error.message, command: command)
        case .timeout:
            return BrokerError(.timeout, "\(command): Redis did not answer in time", underlying: error)
        case .shutdown:
            return BrokerError(.shutdown, "\(command): the broker has shut down", underlying: error)
        default:
            return BrokerError(.unavailable, "\(command): Redis is unavailable (\(error.code))", underlying: error)
        }
    }

    static func serverError(_ message: String, command: String) -> BrokerError {
        if message.hasPrefix("WRONGTYPE") {
            return BrokerError(.wrongType, "\(command): the key holds a value of another type")
        }
        if message.contains("not an integer") {
            return BrokerError(.commandFailed, "\(command): value is not an integer")
        }
        return BrokerError(.commandFailed, "\(command): \(message)")
    }

    static func redisCommand(for command: BrokerCommand) -> RedisCommand {
        switch command {
        case .get(let key):
            return RedisCommand("GET", [.string(key)])
        case .set(let key, let value, let ttl):
            return RedisCommand("SET", [.string(key), .string(value)] + expiry(ttl))
        case .setIfAbsent(let key, let value, let ttl):
            return RedisCommand("SET", [.string(key), .string(value), "NX"] + expiry(ttl))
        case .delete(let keys):
            return RedisCommand("DEL", keys.map { .string($0) })
        case .deleteIfEquals(let key, let value):
            return RedisCommand("EVAL", [.string(deleteIfEqualsScript.source), 1, .string(key), .string(value)])
        case .expire(let key, let ttl):
            return RedisCommand("PEXPIRE", [.string(key), .int(Int(BrokerCommand.milliseconds(ttl) ?? 0))])
        case .ttl(let key):
            return RedisCommand("PTTL", [.string(key)])
        case .incrementBy(let key, let amount):
            return RedisCommand("INCRBY", [.string(key), .int(amount)])
        case .hashSet(let key, let fields):
            var arguments: [RedisArgument] = [.string(key)]
            arguments.reserveCapacity(1 + fields.count * 2)
            for (field, value) in fields {
                arguments.append(.string(field))
                arguments.append(.string(value))
            }
            return RedisCommand("HSET", arguments)
        case .hashSetIfExists(let key, let fields):
            var arguments: [RedisArgument] = [.string(hashSetIfExistsScript), 1, .string(key)]
            for (field, value) in fields {
                arguments.append(.string(field))
                arguments.append(.string(value))
            }
            return RedisCommand("EVAL", arguments)
        case .hashGet(let key, let field):
            return RedisCommand("HGET", [.string(key), .string(field)])
        case .hashGetAll(let key):
            return RedisCommand("HGETALL", [.string(key)])
        case .hashDelete(let key, let fields):
            return RedisCommand("HDEL", [.string(key)] + fields.map { .string($0) })
        case .hashIncrementBy(let key, let field, let amount):
            return RedisCommand("HINCRBY", [.string(key), .string(field), .int(amount)])
        case .hashLength(let key):
            return RedisCommand("HLEN", [.string(key)])
        case .setAdd(let key, let members):
            return RedisCommand("SADD", [.string(key)] + members.map { .string($0) })
        case .setRemove(let key, let members):
            return RedisCommand("SREM", [.string(key)] + members.map { .string($0) })
        case .setMembers(let key):
            return RedisCommand("SMEMBERS", [.string(key)])
        case .setCardinality(let key):
            return RedisCommand("SCARD", [.string(key)])
        case .setIsMember(let key, let member):
            return RedisCommand("SISMEMBER", [.string(key), .string(member)])
        case .streamAdd(let key, let fields, let maxLength):
            var arguments: [RedisArgument] = [.string(key), "MAXLEN", "~", .int(maxLength), "*"]
            arguments.reserveCapacity(5 + fields.count * 2)
            for (field, value) in fields {
                arguments.append(.string(field))
                arguments.append(.string(value))
            }
            return RedisCommand("XADD", arguments)
        case .streamCreateGroup(let key, let group):
            return RedisCommand("XGROUP", ["CREATE", .string(key), .string(group), "0", "MKSTREAM"])
        case .streamReadGroup(let key, let group, let consumer, let count):
            return RedisCommand("XREADGROUP", ["GROUP", .string(group), .string(consumer), "COUNT", .int(count), "STREAMS", .string(key), ">"])
        case .streamAcknowledge(let key, let group, let ids):
            return RedisCommand("XACK", [.string(key), .string(group)] + ids.map { .string($0) })
        case .streamAutoClaim(let key, let group, let consumer, let minIdle, let count):
            return RedisCommand("XAUTOCLAIM", [
                .string(key), .string(group), .string(consumer), .int(Int(BrokerCommand.milliseconds(minIdle) ?? 0)), "0-0", "COUNT", .int(count),
            ])
        case .streamClaim(let key, let group, let consumer, let ids):
            return RedisCommand("XCLAIM", [.string(key), .string(group), .string(consumer), "0"] + ids.map { .string($0) } + ["JUSTID"])
        case .streamLength(let key):
            return RedisCommand("XLEN", [.string(key)])
        case .streamRange(let key, let count):
            return RedisCommand("XRANGE", [.string(key), "-", "+", "COUNT", .int(count)])
        case .script(let script, let keys, let arguments):
            return RedisCommand("EVAL", [.string(script.lua), .int(keys.count)] + keys.map { .string($0) } + arguments.map { .string($0) })
        }
    }

    /// The `RedisScript` (which remembers its SHA) of each broker script, by name.
    private static let scripts = Mutex<[String: RedisScript]>([:])

    static func cached(_ script: BrokerScript) -> RedisScript {
        scripts.withLock { scripts in
            if let known = scripts[script.name], known.source == script.lua { return known }
            let made = RedisScript(script.lua)
            scripts[script.name] = made
            return made
        }
    }

    /// `HSET` on an existing key only.
    static let hashSetIfExistsScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], unpack(ARGV)) return 1 end return 0
        """

    private static func expiry(_ ttl: Duration?) -> [RedisArgument] {
        guard let ttl, let milliseconds = BrokerCommand.milliseconds(ttl) else { return [] }
        return ["PX", .int(Int(milliseconds))]
    }

    static func decode(_ reply: RESPValue, for command: BrokerCommand) throws -> BrokerValue {
        if let message = reply.errorMessage {
            if case .streamCreateGroup = command, message.hasPrefix("BUSYGROUP") { return .bool(false) }
            throw serverError(message, command: command.name)
        }
        let unexpected = BrokerError(.commandFailed, "\(command.name): unexpected reply from Redis")
        switch command {
        case .get, .hashGet:
            if reply.isNull { return .null }
            guard let text = reply.string else { throw unexpected }
            return .string(text)
        case .set:
            return .ok
        case .setIfAbsent:
            return .bool(!reply.isNull)
        case .deleteIfEquals, .expire, .setIsMember, .hashSetIfExists:
            guard let value = reply.int else { throw unexpected }
            return .bool(value != 0)
        case .streamAdd:
            guard let id = reply.string else { throw unexpected }
            return .string(id)
        case .streamCreateGroup:
            return .bool(true)
        case .streamReadGroup:
            // nil when nothing is new; else [[key, [entry…]]].
            if reply.isNull { return .entries([]) }
            guard let streams = reply.array else { throw unexpected }
            var entries: [BrokerStreamEntry] = []
            for stream in streams {
                guard let pair = stream.array, pair.count == 2, let items = pair[1].array else { throw unexpected }
                entries += try items.compactMap { try streamEntry($0, unexpected) }
            }
            return .entries(entries)
        case .streamAutoClaim:
            // [next cursor, [entry…], [deleted id…]] (Redis 7; 6.2 has no third part).
            guard let parts = reply.array, parts.count >= 2, let items = parts[1].array else { throw unexpected }
            return .entries(try items.compactMap { try streamEntry($0, unexpected) })
        case .streamClaim:
            guard let parts = reply.array else { throw unexpected }
            return .strings(try parts.map { part in
                guard let id = part.string else { throw unexpected }
                return id
            })
        case .streamRange:
            guard let items = reply.array else { throw unexpected }
            return .entries(try items.compactMap { try streamEntry($0, unexpected) })
        case .delete, .ttl, .incrementBy, .hashSet, .hashDelete, .hashIncrementBy, .hashLength,
             .setAdd, .setRemove, .setCardinality, .streamAcknowledge, .streamLength:
            guard case .integer(let value) = reply else { throw unexpected }
            return .int(Int(value))
        case .hashGetAll:
            guard let parts = reply.array, parts.count % 2 == 0 else { throw unexpected }
            var hash: [String: String] = [:]
            hash.reserveCapacity(parts.count / 2)
            var index = 0
            while index < parts.count {
                guard let field = parts[index].string, let value = parts[index + 1].string else { throw unexpected }
                hash[field] = value
                index += 2
            }
            return .hash(hash)
        case .setMembers:
            guard let parts = reply.array else { throw unexpected }
            return .strings(try parts.map { part in
                guard let member = part.string else { throw unexpected }
                return member
            })
        case .script:
            if reply.isNull { return .null }
            if case .integer(let value) = reply { return .int(Int(value)) }
            if let parts = reply.array {
                return .strings(try parts.map { part in
                    guard let item = part.string else { throw unexpected }
                    return item
                })
            }
            guard let text = reply.string else { throw unexpected }
            return .string(text)
        }
    }

    /// One stream entry, `[id, [field, value, …]]`; nil for an entry deleted since it was
    /// delivered (Redis 6.2 answers it as `[id, nil]`).
    private static func streamEntry(_ reply: RESPValue, _ unexpected: BrokerError) throws -> BrokerStreamEntry? {
        guard let pair = reply.array, pair.count == 2, let id = pair[0].string else { throw unexpected }
        if pair[1].isNull { return nil }
        guard let parts = pair[1].array, parts.count % 2 == 0 else { throw unexpected }
        var fields: [String: String] = [:]
        var index = 0
        while index < parts.count {
            guard let field = parts[index].string, let value = parts[index + 1].string else { throw unexpected }
            fields[field] = value
            index += 2
        }
        return BrokerStreamEntry(id: id, fields: fields)
    }
}
