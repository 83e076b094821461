/// A node's answer to one operation.
public enum OperationResult: Sendable, Hashable {
    case int(Int)
    case bool(Bool)
    case strings([String])
    /// A JSON object (`getStats`, `getGroupStats`).
    case object(JSONValue)
    /// What a node held of a session it was asked to give up (`_claim`).
    case claim(ClaimAnswer)
    /// The operation could not run on that node: `code` 1 for bad arguments (the gateway
    /// checks them first, so this means a version mismatch), 3 for a timeout.
    case failure(code: Int, message: String)

    /// What the gateway reports for a node that did not answer in time.
    package static let timeout = OperationResult.failure(code: 3, message: "timeout")
}

/// One node's answer to ``NodeOperation/claimSession(token:connectionID:id:groups:)``: what
/// it held of the session, and, from the node of the resuming connection, what that
/// connection already received. Every other node answers an empty one.
public struct ClaimAnswer: Sendable, Hashable {
    /// What a node held of the session.
    public enum Session: Sendable, Hashable {
        /// The session was away here: this node stopped recording for it, after `recorded`
        /// messages (`complete`: false when its replay is known to be incomplete); `id` and
        /// `groups` are the user and groups its connection had (sorted).
        case away(recorded: Int, complete: Bool, id: String?, groups: [String])
        /// Its connection was still open here: this node cut it off, as a close would, but
        /// without keeping it away.
        case live
    }

    /// Nil when this node held nothing of the session.
    package var session: Session?
    /// Set by the node of the resuming connection only: the ids of the messages that
    /// connection received live since it opened, which its replay skips.
    package var seen: [String]?

    public init(session: Session? = nil, seen: [String]? = nil) {
        self.session = session
        self.seen = seen
    }
}

/// A node's reply: one result per operation, in order.
public struct NodeCallReply: Sendable, Hashable {
    package var results: [OperationResult]
    public init(results: [OperationResult]) { self.results = results }
}
