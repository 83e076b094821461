import BrokerCore
import Synchronization

/// A ``Broker`` that lives in the process: no network, nothing to install.
///
/// It follows Redis's semantics so the same contract tests pass against both: string,
/// hash and set values with `WRONGTYPE` errors, millisecond TTLs (expired lazily when a
/// key is touched and actively by ``run()``), hashes and sets that vanish when emptied,
/// glob pattern subscriptions and fan-out.
///
/// Every ``execute(_:atomically:)`` batch runs in one critical section, atomic or not.
/// As in a Redis transaction, a command that fails (a wrong type) does not stop the
/// commands after it; the first error is thrown once the batch has run. Invalid arguments
/// (an empty key list, a non-positive `SET` TTL) are rejected before anything runs.
public final class EmbeddedBroker: Broker {
    private let clock = ContinuousClock()
    private let store = Mutex(KeyStore())
    let registry: PubSubRegistry
    private let sweepInterval: Duration

    /// Creates an empty broker.
    /// - Parameters:
    ///   - bufferLimit: messages buffered per subscription before new ones are dropped.
    ///   - sweepInterval: how often ``run()`` removes expired keys (at least 1 ms).
    public init(
        bufferLimit: Int = BrokerSubscription.defaultBufferLimit,
        sweepInterval: Duration = .milliseconds(100)
    ) {
        self.registry = PubSubRegistry(bufferLimit: bufferLimit)
        self.sweepInterval = max(sweepInterval, .milliseconds(1))
    }

    /// Removes expired keys every `sweepInterval` until the calling task is cancelled,
    /// then returns normally. Expired keys are invisible even without it; it frees memory.
    public func run() async throws {
        while true {
            do {
                try await Task.sleep(for: sweepInterval, clock: clock)
            } catch {
                return  // cancelled
            }
            removeExpiredKeys()
        }
    }

    /// Runs `commands` in order in one critical section.
    /// - Parameters:
    ///   - commands: the commands; an empty list returns an empty list.
    ///   - atomically: ignored: every batch is atomic here.
    /// - Returns: one value per command.
    /// - Throws: ``BrokerError`` `.invalidArgument` before running anything, or the first
    ///   `.wrongType` / `.commandFailed` after running the whole batch.
    public func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue] {
        guard !commands.isEmpty else { return [] }
        for command in commands { try command.validate() }
        return try store.withLock { store in
            let now = clock.now
            var values: [BrokerValue] = []
            values.reserveCapacity(commands.count)
            var firstError: (any Error)?
            for command in commands {
                do {
                    values.append(try store.execute(command, at: now))
                } catch {
                    if firstError == nil { firstError = error }
                    values.append(.null)
                }
            }
            if let firstError { throw firstError }
            return values
        }
    }

    /// Every live key that matches `pattern` (`*` matches every key, the empty one included,
    /// as Redis's `SCAN` does).
    /// - Parameter pattern: a glob, see ``GlobPattern``.
    /// - Returns: the keys, unordered, each once.
    public func scanKeys(matching pattern: String) async throws -> [String] {
        let glob = GlobPattern(pattern)
        return store.withLock { store in
            store.keys(matching: glob, at: clock.now)
        }
    }

    /// A stream that yields ``BrokerEvent/connected`` at once and then nothing: the embedded
    /// broker never disconnects. It finishes only when the consuming task is cancelled.
    public func events() -> AsyncStream<BrokerEvent> {
        AsyncStream { continuation in
            continuation.yield(.connected)
        }
    }

    /// How many keys are held in memory, counting expired keys that neither an access nor
    /// the sweep has removed yet.
    package var storedKeyCount: Int {
        store.withLock { $0.entries.count }
    }

    /// Removes every key whose TTL has passed. ``run()`` calls it periodically.
    /// - Returns: how many keys were removed.
    @discardableResult
    package func removeExpiredKeys() -> Int {
        var total = 0
        while true {
            // In slices, so commands are not held up behind a mass expiry.
            let (removed, more) = store.withLock { store in
                store.removeExpired(at: clock.now, limit: 1_000)
            }
            total += removed
            if !more { return total }
        }
    }
}
