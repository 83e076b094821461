// public: the operations, calls and results that Benchmarks/ (FleetBenchmarks) and embedders
// (NodeHub.execute, docs/protocol.md) build; their fields and the rest of FleetCore are package.
/// The arguments of an event once the gateway has checked them. Unused ones are nil.
public struct EventArguments: Sendable, Hashable {
    /// A user id.
    package var id: String?
    /// A connection id.
    package var connectionID: String?
    /// One or more groups (`groupId`, split on commas where the event allows a list).
    package var groups: [String]?
    /// The message text, delivered as is.
    package var message: String?
    /// The message's id, unique per send, set by whoever sends it (gateway or node): a message
    /// both recorded for a session and delivered live to its new connection is replayed once.
    package var messageID: String?
    /// A Pusher app id, channel and event name (`triggerPusherEvent`, answered by the gateway:
    /// they never travel to nodes).
    package var appID: String?
    package var channel: String?
    package var name: String?

    public init(id: String? = nil, connectionID: String? = nil, groups: [String]? = nil, message: String? = nil, messageID: String? = nil) {
        self.id = id
        self.connectionID = connectionID
        self.groups = groups
        self.message = message
        self.messageID = messageID
    }

    /// A new message id (16 random hex digits).
    package static func makeMessageID() -> String {
        RandomHex.make(words: 1)
    }
}

/// One thing a node is asked to do.
public enum NodeOperation: Sendable, Hashable {
    /// One of the API's events.
    case event(FleetEvent, EventArguments)
    /// Send `message` to every local member of any of `groups`, once per connection, except
    /// the connection `excluding`; answers the number reached. The second step of
    /// `sendMessageToGroupByOnly(_)Id`, and a client's room broadcast.
    case sendToGroups([String], message: String, excluding: String? = nil, messageID: String? = nil)
    /// A session resumes on connection `connectionID` with user `id` and `groups`. Sent to
    /// every node on the broadcast channel, so that every node runs it at the same point of
    /// the calls' order: the node holding the session stops recording for it (or closes its
    /// still-open connection), and the node of `connectionID` binds it and holds its live
    /// messages until the replay is queued. Each node answers a ``ClaimAnswer``.
    case claimSession(token: String, connectionID: String, id: String?, groups: [String])
    /// A stopping node hands its away sessions to another node: at this point of the calls'
    /// order, `from` stops recording for them and `to` starts. Sent on the broadcast channel.
    case adoptSessions(from: String, to: String, sessions: [HandedSession])
}

/// An away session as one node hands it to another.
public struct HandedSession: Sendable, Hashable {
    package var token: String
    /// The `_id` of the connection that ended.
    package var connectionID: String
    package var id: String?
    package var groups: [String]
    /// Messages recorded so far (the mailbox's numbering goes on from there).
    package var recorded: Int
    /// Milliseconds left before the session expires.
    package var remaining: Int64
    /// Sizes of the messages its mailbox keeps, oldest first (nil: none known).
    package var kept: [Int]?
    /// False when its replay is known to be incomplete (nil: complete).
    package var complete: Bool?
    /// The client address it connected from (nil: unknown).
    package var address: String?

    package init(token: String, connectionID: String, id: String?, groups: [String], recorded: Int, remaining: Int64) {
        self.token = token
        self.connectionID = connectionID
        self.id = id
        self.groups = groups
        self.recorded = recorded
        self.remaining = remaining
    }
}

/// The body of a call from a gateway (or a node) to a node: operations to run in order.
public struct NodeCall: Sendable, Hashable {
    package var operations: [NodeOperation]
    public init(operations: [NodeOperation]) { self.operations = operations }
}
