import BrokerCore

/// Folds the state of the RedisBroker's two connections (commands, pub/sub) into broker
/// events: `.connected` once both are up the first time, `.disconnected` when either drops,
/// `.reconnected` when both are up again (subscriptions restored by then).
///
/// The owner passes the links' *current* state on every connection event, not the event
/// itself: events of the two links arrive in any order, and a link whose loss has not been
/// reported yet must not count as up.
package struct LinkState: Sendable {
    private var announced = false
    private var down = false

    package init() {}

    /// Whether the broker is usable now.
    package var isUp: Bool { announced && !down }

    /// Records the links' current state. - Returns: the broker event it causes, if any.
    package mutating func update(commandsUp: Bool, subscriberUp: Bool, reason: String = "") -> BrokerEvent? {
        if commandsUp && subscriberUp {
            if !announced {
                announced = true
                return .connected
            }
            if down {
                down = false
                return .reconnected
            }
            return nil
        }
        if announced && !down {
            down = true
            return .disconnected(reason: reason)
        }
        return nil
    }
}
