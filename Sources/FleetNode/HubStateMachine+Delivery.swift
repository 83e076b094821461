// Messages: to the sockets of open connections, and into the mailboxes of away sessions.
extension HubStateMachine {
    /// Sends `message` to each of `connectionIDs` that is here (one ``Action/deliver(_:to:)``
    /// for all of them), and records it for the away sessions `target` covers. Returns how
    /// many connections took it (held ones included).
    mutating func deliver(
        _ message: String,
        id messageID: String?,
        to connectionIDs: some Collection<String>,
        recordingFor target: AwaySessions.Target,
        now: ContinuousClock.Instant,
        actions: inout [Action]
    ) -> Int {
        var delivered = 0
        if !connectionIDs.isEmpty {
            var targets: [Socket] = []
            targets.reserveCapacity(connectionIDs.count)
            for connectionID in connectionIDs {
                guard let index = connections.index(forKey: connectionID) else { continue }
                delivered += 1
                if connections.values[index].take(message, id: messageID) { targets.append(connections.values[index].socket) }
            }
            if !targets.isEmpty { actions.append(.deliver(message, to: targets)) }
        }
        messagesSent += delivered
        record(message, id: messageID, for: target, now: now, actions: &actions)
        return delivered
    }

    /// Sends `message` to every connection and records it for every away session. Walks the
    /// connections in place (by index): a view of them kept while they change would copy them
    /// all.
    mutating func deliverToEveryone(
        _ message: String, id messageID: String?, now: ContinuousClock.Instant, actions: inout [Action]
    ) -> Int {
        let delivered = connections.count
        if delivered > 0 {
            var targets: [Socket] = []
            targets.reserveCapacity(delivered)
            var index = connections.startIndex
            while index != connections.endIndex {
                if connections.values[index].take(message, id: messageID) { targets.append(connections.values[index].socket) }
                connections.formIndex(after: &index)
            }
            if !targets.isEmpty { actions.append(.deliver(message, to: targets)) }
        }
        messagesSent += delivered
        record(message, id: messageID, for: .everyone, now: now, actions: &actions)
        return delivered
    }

    /// Records `message` for the live away sessions `target` covers: one
    /// ``Action/record(_:)`` each, all sharing the message's text. Sessions found expired on
    /// the way are dropped (their mailboxes expire by themselves).
    private mutating func record(
        _ message: String, id messageID: String?, for target: AwaySessions.Target, now: ContinuousClock.Instant, actions: inout [Action]
    ) {
        guard !away.isEmpty else { return }
        var expired: [String] = []
        let tokens = away.recipients(of: target, now: now, expired: &expired)
        guard !tokens.isEmpty else { return }
        let bytes = message.utf8.count
        let needed = actions.count + tokens.count
        if actions.capacity < needed { actions.reserveCapacity(Swift.max(needed, 2 * actions.capacity)) }
        for token in tokens {
            guard let recorded = away.record(token, bytes: bytes) else { continue }
            actions.append(.record(AwayRecording(
                token: token, sequence: recorded.sequence, message: message, messageID: messageID, dropped: recorded.dropped
            )))
        }
    }
}
