import BrokerCore

extension EmbeddedBroker {
    /// Publishes `message` on `channel` to every matching subscription.
    /// - Returns: the number of messages delivered: one per channel subscription and one per
    ///   matching pattern of each pattern subscription; `0` when nobody listens.
    @discardableResult
    public func publish(_ message: String, to channel: String) async throws -> Int {
        registry.publish(message, to: channel)
    }

    /// Subscribes to exact channel names; a message published after this returns is delivered.
    /// - Parameter channels: at least one channel; repeated names count once.
    /// - Throws: ``BrokerError`` `.invalidArgument` for an empty list.
    public func subscribe(to channels: [String]) async throws -> BrokerSubscription {
        guard !channels.isEmpty else {
            throw BrokerError(.invalidArgument, "SUBSCRIBE needs at least one channel")
        }
        return registry.subscribe(to: channels)
    }

    /// Subscribes to glob patterns (see ``GlobPattern``); messages carry the matching pattern.
    /// - Parameter patterns: at least one pattern; repeated patterns count once.
    /// - Throws: ``BrokerError`` `.invalidArgument` for an empty list.
    public func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription {
        guard !patterns.isEmpty else {
            throw BrokerError(.invalidArgument, "PSUBSCRIBE needs at least one pattern")
        }
        return registry.subscribe(toPatterns: patterns)
    }
}
