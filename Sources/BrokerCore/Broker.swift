/// The contract between wscenter's node/gateway and the shared state and bus.
///
/// Two implementations exist: `RedisBroker` (module `BrokerRedis`) on a real Redis, and
/// `EmbeddedBroker` (module `BrokerEmbedded`) in-process, with the same semantics
/// (TTL expiry, pattern subscriptions, fan-out). One contract test suite runs against both.
///
/// Key/hash/set operations are expressed as ``BrokerCommand`` values and run through
/// ``execute(_:atomically:)``; typed convenience methods live in `Broker+Commands.swift`.
public protocol Broker: Sendable {
    /// Runs the broker's background work (connections and reconnection for Redis,
    /// TTL expiry for the embedded broker) until the calling task is cancelled.
    func run() async throws

    /// Runs `commands` in order and returns one value per command.
    ///
    /// - Parameters:
    ///   - commands: the commands to run; an empty list returns an empty list.
    ///   - atomically: when `true`, no other client observes a state between two of the
    ///     commands (Redis `MULTI`/`EXEC`; one critical section in the embedded broker).
    /// - Returns: the results, index for index.
    /// - Throws: ``BrokerError`` when the broker is unreachable or a command fails
    ///   (for example a wrong type); with `atomically: false` earlier commands may have run.
    func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue]

    /// Whether the keyspace is split over hash slots (a Redis Cluster). Then an atomic batch or
    /// a script must keep its keys in one slot (a common `{hash tag}`), and
    /// ``executeAtomicallyPerSlot(_:)`` is atomic per slot only. The fleet lays out its keys
    /// for it (`FleetKeys`, `PusherKeys`).
    var isSharded: Bool { get }

    /// Runs `commands` as atomically as the keyspace allows: all at once, like
    /// `execute(_:atomically: true)`, on one Redis and in the embedded broker; on a sharded
    /// broker one `MULTI`/`EXEC` per hash slot, which together are not atomic (one slot's may
    /// fail after another's ran). For writes whose owner repairs a partial failure.
    func executeAtomicallyPerSlot(_ commands: [BrokerCommand]) async throws -> [BrokerValue]

    /// Every key that matches the glob `pattern` (Redis `SCAN MATCH` semantics).
    func scanKeys(matching pattern: String) async throws -> [String]

    /// Publishes `message` on `channel`.
    /// - Returns: how many subscribers received it; `0` means nobody is listening.
    ///   The number is implementation-defined beyond "zero or not" (Redis counts
    ///   connections, the embedded broker counts subscriptions).
    @discardableResult
    func publish(_ message: String, to channel: String) async throws -> Int

    /// Subscribes to exact channel names. Returns once the subscription is active:
    /// a message published after this returns is delivered.
    func subscribe(to channels: [String]) async throws -> BrokerSubscription

    /// Subscribes to glob patterns (`*`, `?`, `[...]`, `\`), as Redis `PSUBSCRIBE`.
    func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription

    /// A new stream of connection events. After ``BrokerEvent/reconnected`` every
    /// subscription is active again, but state written while disconnected may be lost:
    /// owners re-publish what they own.
    func events() -> AsyncStream<BrokerEvent>

    /// Where this broker's own I/O runs, when that is one thread: a task that prefers it
    /// (`withTaskExecutorPreference`) publishes, receives its subscriptions' messages and
    /// resumes without changing threads. Nil when there is no such place (the default).
    var preferredTaskExecutor: (any TaskExecutor)? { get }
}

extension Broker {
    public var preferredTaskExecutor: (any TaskExecutor)? { nil }

    public var isSharded: Bool { false }

    public func executeAtomicallyPerSlot(_ commands: [BrokerCommand]) async throws -> [BrokerValue] {
        try await execute(commands, atomically: true)
    }
}

/// What happens to the broker's link to its backing store.
public enum BrokerEvent: Sendable, Hashable {
    /// The first connection is ready.
    case connected
    /// The connection was lost; commands fail fast until ``reconnected``.
    case disconnected(reason: String)
    /// A connection is back and every subscription has been restored.
    case reconnected
}
