import FleetCore

/// A change of one connection's binding state, for the broker's copy. nil `before`: opened;
/// nil `after`: closed.
public struct BindingChange: Sendable, Hashable {
    package var before: ConnectionSnapshot?
    package var after: ConnectionSnapshot?
    /// On a close: the session that turns away with it (written in the same step as the
    /// bindings' removal, so the broker never holds neither).
    package var awaySession: String?

    package init(before: ConnectionSnapshot?, after: ConnectionSnapshot?, awaySession: String? = nil) {
        self.before = before
        self.after = after
        self.awaySession = awaySession
    }
}
