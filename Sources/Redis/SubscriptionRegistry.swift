import NIOCore
import Synchronization

/// Which handlers want which channels and patterns; survives reconnections.
///
/// `SUBSCRIBE`/`UNSUBSCRIBE` are written while the registry's lock is held, so the order in
/// which Redis sees them is the order of the registry's changes (a subscribe racing with the
/// last unsubscribe of the same channel can never leave it unsubscribed).
final class SubscriptionRegistry: Sendable {
    enum Kind: Sendable {
        case channel, pattern

        var subscribe: String { self == .channel ? "SUBSCRIBE" : "PSUBSCRIBE" }
        var unsubscribe: String { self == .channel ? "UNSUBSCRIBE" : "PUNSUBSCRIBE" }
        var confirmation: String { self == .channel ? "subscribe" : "psubscribe" }
    }

    private struct State {
        var channels: [String: [UInt64: RedisSubscriber.Handler]] = [:]
        var patterns: [String: [UInt64: RedisSubscriber.Handler]] = [:]
        var nextID: UInt64 = 0

        subscript(kind: Kind) -> [String: [UInt64: RedisSubscriber.Handler]] {
            get { kind == .channel ? channels : patterns }
            set { if kind == .channel { channels = newValue } else { patterns = newValue } }
        }
    }

    private let state = Mutex(State())

    /// Registers `handler` and writes the subscribe command on `connection`.
    func add(
        _ kind: Kind, _ names: [String], _ handler: @escaping RedisSubscriber.Handler, on connection: RedisConnection
    ) -> (UInt64, EventLoopFuture<RESPValue>) {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            for name in names {
                state[kind][name, default: [:]][id] = handler
            }
            let command = RedisCommand(kind.subscribe, names.map { .string($0) }, replyCount: names.count)
            return (id, connection.enqueue(command.encoded, replyCount: command.replyCount, command: command.name))
        }
    }

    /// Unregisters subscription `id`; unsubscribes in Redis the names nobody wants any more.
    func remove(_ id: UInt64, _ kind: Kind, _ names: [String], on connection: RedisConnection?) {
        state.withLock { state in
            var abandoned: [String] = []
            for name in Set(names) {
                guard var handlers = state[kind][name], handlers.removeValue(forKey: id) != nil else { continue }
                if handlers.isEmpty {
                    state[kind][name] = nil
                    abandoned.append(name)
                } else {
                    state[kind][name] = handlers
                }
            }
            guard let connection, !abandoned.isEmpty else { return }
            let command = RedisCommand(kind.unsubscribe, abandoned.map { .string($0) }, replyCount: abandoned.count)
            // Best effort: if the connection dies, the server forgets its subscriptions anyway.
            _ = connection.enqueue(command.encoded, replyCount: command.replyCount, command: command.name)
        }
    }

    /// Re-subscribes everything on a new connection, before it is announced.
    func restore(on connection: RedisConnection) async throws {
        let pending: [(Kind, Int, EventLoopFuture<RESPValue>)] = state.withLock { state in
            var pending: [(Kind, Int, EventLoopFuture<RESPValue>)] = []
            for kind in [Kind.channel, .pattern] {
                let names = Array(state[kind].keys)
                guard !names.isEmpty else { continue }
                let command = RedisCommand(kind.subscribe, names.map { .string($0) }, replyCount: names.count)
                pending.append((kind, names.count, connection.enqueue(command.encoded, replyCount: command.replyCount, command: command.name)))
            }
            return pending
        }
        for (kind, count, future) in pending {
            try Self.checkConfirmation(try await future.get(), kind: kind, count: count)
        }
    }

    /// Delivers a `message`/`pmessage` push to its handlers (on the event loop).
    func dispatch(_ push: RESPValue) {
        guard case .array(let parts) = push else { return }
        let message: RedisPubSubMessage
        let handlers: [RedisSubscriber.Handler]
        if parts.count == 3, let channel = parts[1].string, case .bulkString(let payload) = parts[2] {
            message = RedisPubSubMessage(channel: channel, pattern: nil, payload: payload)
            handlers = state.withLock { Array(($0.channels[channel] ?? [:]).values) }
        } else if parts.count == 4, let pattern = parts[1].string, let channel = parts[2].string,
                  case .bulkString(let payload) = parts[3] {
            message = RedisPubSubMessage(channel: channel, pattern: pattern, payload: payload)
            handlers = state.withLock { Array(($0.patterns[pattern] ?? [:]).values) }
        } else {
            return
        }
        for handler in handlers { handler(message) }
    }

    /// Checks that a (P)SUBSCRIBE got `count` confirmations and no error.
    static func checkConfirmation(_ reply: RESPValue, kind: Kind, count: Int) throws {
        let confirmations = count == 1 ? [reply] : (reply.array ?? [])
        guard confirmations.count == count else {
            throw RedisError(.protocolError, "expected \(count) confirmations", command: kind.subscribe)
        }
        for confirmation in confirmations {
            if let message = confirmation.errorMessage {
                throw RedisError(.serverError, message, command: kind.subscribe)
            }
            guard let parts = confirmation.array, parts.first?.string == kind.confirmation else {
                throw RedisError(.protocolError, "unexpected confirmation", command: kind.subscribe)
            }
        }
    }
}
