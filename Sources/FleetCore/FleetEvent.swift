/// The 27 events of the websocket-center API, and wscenter's own. The raw value is the
/// event's name on the wire.
public enum FleetEvent: String, CaseIterable, Sendable, Codable, Hashable {
    case getConnectionCount, getIds, get_Ids, isOnlineId, isOnline_Id
    case bindId, unBindId, unBind_Id
    case getGroupIds, joinGroupById, joinGroupBy_Id, leaveGroupById, leaveGroupBy_Id
    case leaveAllGroupById, leaveAllGroupBy_Id, getGroupIdsById, getGroupIdsBy_Id
    case isInGroupById, isInGroupBy_Id, getGroupIdCount, getGroup_IdCount
    case sendMessageToId, sendMessageTo_Id, sendToGroup, broadcast
    case sendMessageToGroupByOnlyId, sendMessageToGroupByOnly_Id
    /// Beyond the seed's 27: each node's counters, and a group's size and age on each node.
    case getStats, getGroupStats
    /// Beyond the seed's 27: a user's connections on each node.
    case get_IdsById
    /// Beyond the seed's 27, answered by the gateway itself: the webhook events that could not
    /// be delivered (docs/webhooks.md), per source.
    case getWebhookDeadLetters
    /// Beyond the seed's 27, answered by the gateway itself: its broker's state; the Pusher
    /// apps' occupied channels; triggering a Pusher event (what the console at /ui/ needs).
    case getBroker, getPusherChannels, triggerPusherEvent

    /// The parameters the event requires, in the order the docs list them.
    package var parameters: [FleetParameter] {
        switch self {
        case .getConnectionCount, .getIds, .get_Ids, .getGroupIds, .getStats, .getWebhookDeadLetters, .getBroker, .getPusherChannels: []
        case .isOnlineId, .unBindId, .leaveAllGroupById, .getGroupIdsById, .get_IdsById: [.id]
        case .isOnline_Id, .unBind_Id, .leaveAllGroupBy_Id, .getGroupIdsBy_Id: [.connectionID]
        case .bindId: [.id, .connectionID]
        case .joinGroupById, .leaveGroupById, .isInGroupById: [.groupID, .id]
        case .joinGroupBy_Id, .leaveGroupBy_Id, .isInGroupBy_Id: [.groupID, .connectionID]
        case .getGroupIdCount, .getGroup_IdCount, .getGroupStats: [.groupID]
        case .sendMessageToId, .sendMessageToGroupByOnlyId: [.id, .message]
        case .sendMessageTo_Id, .sendMessageToGroupByOnly_Id: [.connectionID, .message]
        case .sendToGroup: [.groupID, .message]
        case .broadcast: [.message]
        case .triggerPusherEvent: [.appID, .channel, .name, .message]
        }
    }

    /// What one node answers.
    package var resultKind: ResultKind {
        switch self {
        case .isOnlineId, .isOnline_Id, .isInGroupById, .isInGroupBy_Id: .bool
        case .getIds, .get_Ids, .getGroupIds, .getGroupIdsById, .getGroupIdsBy_Id, .get_IdsById: .strings
        case .getStats, .getGroupStats, .getWebhookDeadLetters, .getBroker, .getPusherChannels, .triggerPusherEvent: .object
        default: .int
        }
    }

    /// Whether `groupId` may name several groups, comma-separated.
    package var acceptsGroupList: Bool {
        switch self {
        case .joinGroupById, .joinGroupBy_Id, .leaveGroupById, .leaveGroupBy_Id, .sendToGroup: true
        default: false
        }
    }

    /// Which nodes have to run the event.
    package var routing: Routing {
        switch self {
        case .isOnline_Id, .bindId, .unBind_Id, .joinGroupBy_Id, .leaveGroupBy_Id, .leaveAllGroupBy_Id,
            .getGroupIdsBy_Id, .isInGroupBy_Id, .sendMessageTo_Id:
            .connectionOwner
        case .sendMessageToGroupByOnlyId, .sendMessageToGroupByOnly_Id:
            .groupsThenSend
        case .getWebhookDeadLetters, .getBroker, .getPusherChannels, .triggerPusherEvent:
            .gateway
        default:
            .everyNode
        }
    }

    package enum ResultKind: Sendable, Hashable {
        case int, bool, strings, object

        /// The answer of a node that did not have to run the event.
        package var neutral: OperationResult {
            switch self {
            case .int: .int(0)
            case .bool: .bool(false)
            case .strings: .strings([])
            case .object: .object(.object([:]))
            }
        }
    }

    package enum Routing: Sendable, Hashable {
        /// Every live node runs it on its own connections.
        case everyNode
        /// Only the node that owns the `_id` can change or answer anything.
        case connectionOwner
        /// Two steps: collect the groups of the user / connection from every node, then send
        /// to the members of those groups on every node, once per connection.
        case groupsThenSend
        /// No node runs it: the gateway answers, keyed by what it concerns instead of by node.
        case gateway
    }
}

/// A parameter of an event, by its wire name.
package enum FleetParameter: String, Sendable, CaseIterable, Hashable {
    case id
    case connectionID = "_id"
    case groupID = "groupId"
    case message = "msg"
    /// A Pusher app id (`triggerPusherEvent`).
    case appID = "appId"
    /// A Pusher channel name (`triggerPusherEvent`).
    case channel
    /// A Pusher event name (`triggerPusherEvent`).
    case name
}
