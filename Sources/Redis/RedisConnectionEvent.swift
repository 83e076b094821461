/// What happens to a client's connection over its life.
public enum RedisConnectionEvent: Sendable {
    /// The first connection is ready (for a subscriber: with its subscriptions active).
    case connected
    /// The connection was lost; commands fail fast until it is back.
    case disconnected(RedisError)
    /// A new connection is ready; a subscriber has restored every subscription.
    case reconnected
}
