import BrokerCore
import Synchronization

/// The embedded broker's subscriptions and its fan-out.
///
/// Messages are delivered while the lock is held, so every subscriber sees messages from
/// concurrent publishers in one global order, as with a single Redis server. Delivering
/// never blocks (a full buffer drops) and never calls back into the registry.
final class PubSubRegistry: Sendable {
    private typealias ID = UInt64

    private enum Target {
        case channels(Set<ExactString>)
        case patterns([GlobPattern])
    }

    private struct Subscriber {
        var target: Target
        var sink: BrokerSubscription.Sink
    }

    private struct State {
        var nextID: ID = 0
        var subscribers: [ID: Subscriber] = [:]
        /// Channel name (compared by bytes, as Redis does) → the subscriptions listening to it.
        var channels: [ExactString: [ID: BrokerSubscription.Sink]] = [:]
        /// The pattern subscriptions, checked on every publish.
        var patternSubscribers: Set<ID> = []

        mutating func remove(_ id: ID) {
            guard let subscriber = subscribers.removeValue(forKey: id) else { return }
            switch subscriber.target {
            case .channels(let names):
                for name in names {
                    channels[name]?[id] = nil
                    if channels[name]?.isEmpty == true { channels[name] = nil }
                }
            case .patterns:
                patternSubscribers.remove(id)
            }
        }
    }

    private let state = Mutex(State())
    private let bufferLimit: Int

    init(bufferLimit: Int) {
        self.bufferLimit = bufferLimit
    }

    /// Subscribes to exact channel names; active when this returns.
    func subscribe(to channels: [String]) -> BrokerSubscription {
        add(.channels(Set(channels.map(ExactString.init))))
    }

    /// Subscribes to glob patterns; active when this returns. Repeated patterns count once.
    func subscribe(toPatterns patterns: [String]) -> BrokerSubscription {
        var seen: Set<ExactString> = []
        let unique = patterns.filter { seen.insert(ExactString($0)).inserted }
        return add(.patterns(unique.map(GlobPattern.init)))
    }

    /// Delivers `payload` to every subscription of `channel` and, once per matching pattern,
    /// to every pattern subscription (as Redis sends one `pmessage` per matching pattern).
    /// - Returns: the number of messages delivered.
    func publish(_ payload: String, to channel: String) -> Int {
        state.withLock { state in
            var delivered = 0
            var ended: [ID] = []
            for (id, sink) in state.channels[ExactString(channel)] ?? [:] {
                if sink.deliver(BrokerMessage(channel: channel, payload: payload)) {
                    delivered += 1
                } else {
                    ended.append(id)
                }
            }
            for id in state.patternSubscribers {
                guard let subscriber = state.subscribers[id], case .patterns(let patterns) = subscriber.target else {
                    continue
                }
                for pattern in patterns where pattern.matches(channel) {
                    let message = BrokerMessage(channel: channel, pattern: pattern.pattern, payload: payload)
                    if subscriber.sink.deliver(message) {
                        delivered += 1
                    } else {
                        ended.append(id)
                        break
                    }
                }
            }
            for id in ended { state.remove(id) }
            return delivered
        }
    }

    /// Registers a subscription. Its `onTermination` removes it again.
    private func add(_ target: Target) -> BrokerSubscription {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        let (subscription, sink) = BrokerSubscription.make(bufferLimit: bufferLimit) { [weak self] in
            self?.remove(id)
        }
        state.withLock { state in
            state.subscribers[id] = Subscriber(target: target, sink: sink)
            switch target {
            case .channels(let names):
                for name in names { state.channels[name, default: [:]][id] = sink }
            case .patterns:
                state.patternSubscribers.insert(id)
            }
        }
        return subscription
    }

    private func remove(_ id: ID) {
        state.withLock { $0.remove(id) }
    }
}
