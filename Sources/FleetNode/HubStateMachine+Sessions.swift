import FleetCore
import NIOCore

// Resumable sessions across the fleet: claims, handovers between nodes, the list to hand over.
extension HubStateMachine {
    /// See ``NodeOperation/claimSession(token:connectionID:id:groups:)``: the session stops
    /// being recorded here (away) or its still-open connection is cut off (live); if the
    /// resuming connection is here, it takes the session's user and groups, its live messages
    /// are held until the replay is queued, and the answer lists the message ids it got so far.
    mutating func claim(
        _ token: String, for connectionID: String, id: String?, groups: [String], at moment: Moment, actions: inout [Action]
    ) -> OperationResult {
        var answer = ClaimAnswer()
        if let session = away.remove(token) {
            answer.session = .away(recorded: session.recorded, complete: session.complete, id: session.id, groups: session.groups.sorted())
        } else if let live = liveByToken[token], live != connectionID {
            // Its connection is still open here: it leaves now, and must not turn away.
            let before = snapshot(live)
            registry.remove(live)
            liveByToken.removeValue(forKey: token)
            // Cut off, not closed: it must not take messages meant for the session now.
            if let connection = connections.removeValue(forKey: live) { actions.append(.cut(connection.socket)) }
            actions.append(.bindingChanged(BindingChange(before: before, after: nil)))
            answer.session = .live
        }
        if registry.connections[connectionID] != nil {
            let createdAt = moment.epochMilliseconds
            _ = mutate([connectionID], actions: &actions) { registry in
                var changed = false
                if let id { changed = registry.bind(id: id, to: connectionID) || changed }
                if !groups.isEmpty { changed = registry.join(groups, connectionID: connectionID, at: createdAt) || changed }
                return changed
            }
            var seen: [String] = []
            if let index = connections.index(forKey: connectionID) {
                seen = connections.values[index].fresh ?? []
                connections.values[index].fresh = nil
                if connections.values[index].held == nil { connections.values[index].held = [] }
            }
            answer.seen = seen
        }
        return .claim(answer)
    }

    /// See ``NodeOperation/adoptSessions(from:to:sessions:)``: at this point of the calls'
    /// order, `from` stops recording for the sessions and `to` starts (with what `from` had
    /// recorded, and the time they had left).
    mutating func adopt(_ sessions: [HandedSession], from: String, to: String, now: ContinuousClock.Instant, actions: inout [Action]) {
        if from == nodeID {
            for session in sessions { away.remove(session.token) }
        }
        guard to == nodeID else { return }
        for session in sessions where session.remaining > 0 {
            var adopted = AwaySessions.Session(
                connectionID: session.connectionID, id: session.id, groups: Set(session.groups),
                address: session.address ?? "", expiresAt: now + .milliseconds(session.remaining)
            )
            adopted.recorded = session.recorded
            adopted.kept = CircularBuffer(session.kept ?? [])
            adopted.keptBytes = adopted.kept.reduce(0, +)
            adopted.complete = session.complete ?? true
            for dropped in away.add(session.token, adopted, now: now) { actions.append(.discardAway(token: dropped)) }
        }
    }

    /// The sessions away here and not yet expired at `now`, to hand over when the node stops.
    func awaySessions(now: ContinuousClock.Instant) -> [HandedSession] {
        away.sessions.compactMap { token, session in
            guard session.expiresAt > now else { return nil }
            let left = session.expiresAt - now
            var handed = HandedSession(
                token: token, connectionID: session.connectionID, id: session.id, groups: session.groups.sorted(),
                recorded: session.recorded, remaining: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
            )
            handed.kept = Array(session.kept)
            handed.complete = session.complete
            handed.address = session.address
            return handed
        }.sorted { $0.token < $1.token }
    }
}
