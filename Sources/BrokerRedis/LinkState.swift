import BrokerCore

/// Folds the state of the RedisBroker's two connections (commands, pub/sub) into broker
/// events: `.connected` once both are up the first time, `.disconnected` when either drops,
/// `.reconnected` when both are up again (subscriptions restored by then).
package struct LinkState: Sendable {
    package enum Link: Sendable { case commands, subscriber }

    private var commandsUp = false
    private var subscriberUp = false
    private var announced = false
    private var down = false

    package init() {}

    /// Whether the broker is usable now.
    package var isUp: Bool { announced && !down }

    /// Records a change. - Returns: the broker event it causes, if any.
    package mutating func update(_ link: Link, up: Bool, reason: String = "") -> BrokerEvent? {
        switch link {
        case .commands: commandsUp = up
        case .subscriber: subscriberUp = up
        }
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
