import BrokerCore
import FleetCore
import Foundation
import Logging
import NIOCore
import Observability
import Synchronization

/// A WebSocket node: the hub of local connections, their bindings mirrored to the broker, a
/// heartbeat, a share of the janitor's work, and the calls that arrive on the bus.
public final class NodeService: Sendable {
    public let configuration: NodeConfiguration
    public let hub: NodeHub
    /// The broker, for client protocols that keep state of their own in it.
    public let broker: any Broker
    let keys: FleetKeys
    public let logger: Logger
    let startedAt = epochMilliseconds()
    private let sync: BindingSync
    private let eventHub: NodeEventHub
    private let mailboxes: MailboxWriter
    private let protocols: [any ClientProtocol]
    /// The live nodes, for client protocols.
    public let directory: NodeDirectory
    private let requester = Mutex<BrokerRequester?>(nil)
    /// The port the server listens on (the configured one until it does).
    private let boundPort: Atomic<Int>
    /// Whether a heartbeat was written before (the first one always finds no key).
    private let hasBeaten = Atomic<Bool>(false)
    /// When the last heartbeat was written (epoch ms; 0: never).
    private let lastBeat = Atomic<Int64>(0)
    /// The process's metrics (shared with a gateway in the same process).
    public let telemetry: Telemetry
    /// WebSocket metrics by protocol name.
    private let meters: [String: SocketMeter]
    /// The open WebSockets, for the drain.
    let sockets: SocketTracker
    /// The checks of every upgrade request, and the count of connections against the limits.
    let upgradeGate: UpgradeGate
    /// Whether the broker's links are up, for readiness.
    private let brokerLink = BrokerLinkState()

    /// - Parameter protocols: the client protocols this node serves, each on its own path.
    public init(
        configuration: NodeConfiguration, broker: any Broker, logger: Logger, protocols: [any ClientProtocol],
        telemetry: Telemetry = Telemetry()
    ) {
        self.protocols = protocols
        let sockets = SocketTracker()
        self.sockets = sockets
        self.upgradeGate = UpgradeGate(protocols: protocols, configuration: configuration) { sockets.isDraining }
        self.telemetry = telemetry
        let meters = Dictionary(
            protocols.map { ($0.name, SocketMeter(protocol: $0.name, telemetry: telemetry)) }, uniquingKeysWith: { first, _ in first }
        )
        self.meters = meters
        self.configuration = configuration
        self.broker = broker
        self.keys = FleetKeys(prefix: configuration.prefix)
        self.logger = logger
        self.boundPort = Atomic(configuration.port)
        self.directory = NodeDirectory(broker: broker, keys: FleetKeys(prefix: configuration.prefix))
        let sync = BindingSync(broker: broker, keys: keys, nodeID: configuration.nodeID, sessionTTL: configuration.reconnectionTTL, logger: logger)
        let eventHub = NodeEventHub()
        let mailboxes = MailboxWriter(broker: broker, keys: keys, ttl: configuration.reconnectionTTL, logger: logger)
        self.sync = sync
        self.eventHub = eventHub
        self.mailboxes = mailboxes
        self.hub = NodeHub(
            nodeID: configuration.nodeID,
            awayTTL: configuration.reconnectionTTL,
            awayLimits: configuration.awayLimits,
            onChange: { change in
                sync.enqueue(change)
                eventHub.publish(change)
            },
            onRecord: { mailboxes.enqueue($0) },
            onDiscard: { mailboxes.discard($0) },
            meter: meters["native"]
        )
    }

    /// Runs the node until cancelled. The broker must already be running.
    /// - Parameter onListening: told the WebSocket port once the server listens.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let bus = try await broker.subscribe(to: [keys.broadcastChannel, keys.nodeChannel(configuration.nodeID)])
        let events = broker.events()
        let linkEvents = broker.events()
        let requester = try await BrokerRequester.start(broker: broker, replyChannel: keys.replyChannel(configuration.nodeID))
        self.requester.withLock { $0 = requester }
        sync.requestResync()
        try await beat()
        _ = try? await broker.publish(configuration.nodeID, to: keys.nodeEventsChannel)
        // The node's background work runs in a task of its own: stopping the node (cancelling
        // this task) first stops the server gracefully, and the bus, the writers and the
        // heartbeat keep going until the sessions away here are handed over.
        let background = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.sync.run(snapshots: { self.hub.snapshots() }) }
                group.addTask { await self.mailboxes.run() }
                // On the broker's thread: calls arrive, run and are answered there.
                group.addTask(executorPreference: self.broker.preferredTaskExecutor) { await self.serveCalls(bus) }
                group.addTask(executorPreference: self.broker.preferredTaskExecutor) { await requester.run() }
                group.addTask { await self.directory.run() }
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.janitorLoop() }
                group.addTask { await self.brokerLink.follow(linkEvents) }
                for clientProtocol in self.protocols {
                    group.addTask { await clientProtocol.run(on: self) }
                }
                group.addTask {
                    for await event in events where event == .reconnected {
                        self.logger.info("broker reconnected: rewriting heartbeat and bindings")
                        // A heartbeat that finds its key gone asks for the resync itself.
                        if (try? await self.beat()) != true { self.requestResync() }
                    }
                }
            }
        }
        var failure: (any Error)?
        do {
            try await NodeServer(service: self, protocols: protocols).run(onListening: onListening)
        } catch {
            failure = error
        }
        // The server has stopped and its connections have ended. Outside this (cancelled) task:
        // another node takes over recording for the sessions away here, then this node leaves
        // the fleet's view.
        await Task {
            await self.handOverAwaySessions()
            bus.cancel()
            background.cancel()
            await background.value
            await self.leave()
        }.value
        if let failure { throw failure }
    }

    // MARK: Sessions, for client protocols

    /// The resumable sessions of this node's clients.
    public var sessions: SessionStore {
        SessionStore(broker: broker, keys: keys, nodeID: configuration.nodeID, ttl: configuration.reconnectionTTL)
    }

    /// What a claim found: whether a node still held the session (away: with how many messages
    /// it recorded; live: its connection was still open), and the messages to replay.
    public struct Claim: Sendable {
        public enum Found: Sendable, Hashable {
            /// A node had recorded `recorded` messages for it since its connection ended;
            /// `complete` is false when it missed some it should have recorded (a cap of
            /// ``AwaySessionLimits``, or the broker falling behind).
            case away(recorded: Int, complete: Bool)
            /// Its connection was still open, and has been closed: nothing was missed.
            case live
            /// No node answered for it: its node died (or the session expired there).
            case lost
        }
        public var found: Found
        /// The recorded messages still kept (at most `REPLAY_MAX`), before skipping the ones
        /// the new connection already got.
        public var stored: Int
        /// The messages to replay, oldest first.
        public var messages: [String]
    }

    /// Resumes the session `token` on `connectionID` (a connection of this node), with the
    /// user `id` and `groups`: every node runs the claim at the same point of the calls'
    /// order, so each message is either recorded for the session or delivered to the new
    /// connection, never both and never neither. The new connection's live messages are held
    /// until ``finishResume(_:prefix:)``.
    public func claimSession(_ token: String, for connectionID: String, id: String?, groups: [String]) async throws -> Claim {
        guard let requester = requester.withLock({ $0 }) else { throw BrokerError(.unavailable, "the node is not running") }
        var nodes = Set(try await directory.liveNodes())
        nodes.insert(configuration.nodeID)
        let answers = try await requester.call(
            [.claimSession(token: token, connectionID: connectionID, id: id, groups: groups)],
            on: keys.broadcastChannel, awaiting: nodes, timeout: configuration.callTimeout
        )
        var found = Claim.Found.lost
        var held: (id: String?, groups: [String])?
        var seen = Set<String>()
        if case .object(.object(let fields))? = answers[configuration.nodeID]?.first, case .array(let ids)? = fields["seen"] {
            seen = Set(ids.compactMap { if case .string(let id) = $0 { id } else { nil } })
        }
        for results in answers.values {
            guard case .object(.object(let fields))? = results.first else { continue }
            if fields["session"] == .string("away"), case .number(let text)? = fields["recorded"] {
                found = .away(recorded: Int(text) ?? 0, complete: fields["complete"] != .bool(false))
                var heldID: String?
                if case .string(let value)? = fields["id"] { heldID = value }
                var heldGroups: [String] = []
                if case .array(let items)? = fields["groups"] {
                    heldGroups = items.compactMap { if case .string(let name) = $0 { name } else { nil } }
                }
                held = (heldID, heldGroups)
            } else if fields["session"] == .string("live") {
                found = .live
            }
        }
        // The claim carried what the broker said of the session; the node that held it knows
        // best (the broker may not have caught up with a connection that ended a moment ago).
        var operations: [NodeOperation] = []
        let bindID = answers[configuration.nodeID] == nil ? id : (id == nil ? held?.id : nil)
        let missingGroups = answers[configuration.nodeID] == nil ? groups : (held?.groups ?? []).filter { !groups.contains($0) }
        if let bindID { operations.append(.event(.bindId, EventArguments(id: bindID, connectionID: connectionID))) }
        if !missingGroups.isEmpty {
            operations.append(.event(.joinGroupBy_Id, EventArguments(connectionID: connectionID, groups: missingGroups)))
        }
        if !operations.isEmpty { _ = hub.execute(operations) }
        let values = try await broker.execute([.hashGetAll(key: keys.mailbox(token)), .delete(keys: [keys.mailbox(token)])], atomically: true)
        var messages: [String] = []
        var stored = 0
        if case .hash(let mailbox)? = values.first {
            if mailbox[MailboxWriter.droppedField] != nil, found == .lost {
                // Dropped early by its node (a cap): not lost with a node, and nothing kept.
                found = .away(recorded: 0, complete: false)
            }
            stored = mailbox.keys.filter { $0 != "n" && $0 != MailboxWriter.droppedField }.count
            // Entries are "<message id>\n<message>"; what this connection got live is skipped.
            messages = mailbox.filter { $0.key != "n" && $0.key != MailboxWriter.droppedField }.sorted { $0.key < $1.key }.compactMap { entry in
                let parts = entry.value.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { return entry.value }
                return !parts[0].isEmpty && seen.contains(String(parts[0])) ? nil : String(parts[1])
            }
        }
        return Claim(found: found, stored: stored, messages: messages)
    }

    /// Queues `prefix` (the reply and the replay) on a resumed connection, then the live
    /// messages held since its claim, and tells ``events()`` readers.
    public func finishResume(_ connectionID: String, previousID: String, missed: Int, prefix: [String]) {
        hub.releaseHold(connectionID, prefix: prefix)
        eventHub.publish(.reconnected(connectionID: connectionID, previousID: previousID, missed: missed))
    }

    // MARK: Events, for embedders

    /// The node's events from now on: connects, disconnects, joins, leaves and client
    /// messages, in the order they happen. Each call gives an independent stream; end it by
    /// ending its iteration. A reader that falls 10,000 events behind loses the oldest.
    public func events() -> AsyncStream<NodeEvent> {
        eventHub.subscribe()
    }

    /// Reports a client's text message to ``events()`` readers (called by client protocols).
    public func received(_ text: String, from connectionID: String) {
        hub.countReceived()
        if eventHub.hasSubscribers { eventHub.publish(.message(connectionID: connectionID, text: text)) }
    }

    // MARK: Rooms, for client protocols

    /// Sends `message` to every member of `room` on every live node, except `excluding`;
    /// returns how many connections it reached (nodes that do not answer in time count 0).
    /// - Throws: when the broker is unreachable.
    public func broadcast(toRoom room: String, message: String, excluding: String?) async throws -> Int {
        guard let requester = requester.withLock({ $0 }) else { throw BrokerError(.unavailable, "the node is not running") }
        let answers = try await requester.call(
            [.sendToGroups([room], message: message, excluding: excluding, messageID: EventArguments.makeMessageID())],
            on: keys.broadcastChannel, awaiting: Set(try await directory.liveNodes()), timeout: configuration.callTimeout
        )
        return answers.values.reduce(0) { total, results in
            guard case .int(let reached)? = results.first else { return total }
            return total + reached
        }
    }

    /// Connections in `room` across the fleet, as the broker's `group:<room>` hash holds them
    /// (changes reach it asynchronously, so a join made a moment ago may not count yet).
    public func roomSize(_ room: String) async throws -> Int {
        try await broker.hashLength(keys.group(room))
    }

    // MARK: Operations

    /// The WebSocket metrics of `clientProtocol`'s sockets.
    func meter(for clientProtocol: any ClientProtocol) -> SocketMeter {
        meter(named: clientProtocol.name)
    }

    /// The WebSocket metrics of the protocol called `name`.
    public func meter(named name: String) -> SocketMeter {
        meters[name] ?? SocketMeter(protocol: name, telemetry: telemetry)
    }

    /// Whether the node is draining: it refuses new WebSockets and is not ready.
    public var isDraining: Bool { sockets.isDraining }

    /// Starts the drain and waits (at most `timeout`) until every WebSocket has closed: new
    /// upgrades are refused with 503, `/readyz` answers 503, and every connection is closed
    /// with 1012 once what was queued for it is written. Native sessions turn away first, so
    /// that what is sent meanwhile is recorded and replayed where the client resumes. Clients
    /// that have not answered the close within 5 s (or `timeout`) are cut off.
    /// The node stays in the fleet (heartbeat, calls, session claims) until it is stopped
    /// (cancelled), which then hands the sessions over and leaves `master_ids`.
    public func drain(within timeout: Duration) async {
        let open = sockets.count
        guard sockets.drainAll() else { return }
        telemetry.startedDraining()
        logger.notice("draining: closing every WebSocket with 1012", metadata: ["connections": "\(open)"])
        let start = ContinuousClock.now
        let handshakes = start + min(timeout, .seconds(5))
        while sockets.count > 0, ContinuousClock.now < handshakes {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let unanswered = sockets.count
        if unanswered > 0 {
            logger.warning("drain: cutting off clients that did not answer the close", metadata: ["connections": "\(unanswered)"])
            sockets.cutAll()
            while sockets.count > 0, ContinuousClock.now < start + timeout {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        let left = sockets.count
        if left > 0 {
            logger.warning("drain: WebSockets still open at the deadline", metadata: ["connections": "\(left)"])
        } else {
            logger.info("drain: every WebSocket closed", metadata: ["after": "\(ContinuousClock.now - start)"])
        }
    }

    /// Ready when not draining, the broker answers, and this node's heartbeat is current
    /// (written within its TTL, and its key present in the broker).
    public func readiness() async -> ReadinessReport {
        var report = ReadinessReport()
        if isDraining { report.reasons.append("draining: this node is shutting down") }
        if let down = brokerLink.unreadyReason { report.reasons.append(down) }
        let key = keys.node(configuration.nodeID)
        switch await ReadinessCheck.broker({ try await self.broker.execute(.ttl(key: key)) }) {
        case .failure(let failure):
            report.reasons.append(failure.description)
        case .success(.int(let ttl)) where ttl < 0:
            report.reasons.append("heartbeat missing from the broker")
        case .success:
            break
        }
        let written = lastBeat.load(ordering: .relaxed)
        let ttl = BrokerCommand.milliseconds(configuration.heartbeatTTL) ?? 3_000
        if written == 0 {
            report.reasons.append("no heartbeat written yet")
        } else if epochMilliseconds() - written > Int64(ttl) {
            report.reasons.append("heartbeat not written for \(epochMilliseconds() - written) ms (TTL \(ttl) ms)")
        }
        return report
    }

    // MARK: Heartbeat

    /// Told by the server once it listens (matters when the configured port is 0).
    func listening(on port: Int) {
        boundPort.store(port, ordering: .relaxed)
    }

    /// The address clients reach: the bind address, or this host's name for a wildcard.
    var advertisedHost: String {
        ["0.0.0.0", "::", ""].contains(configuration.host) ? ProcessInfo.processInfo.hostName : configuration.host
    }

    var info: NodeInfo {
        NodeInfo(
            id: configuration.nodeID,
            host: advertisedHost,
            port: boundPort.load(ordering: .relaxed),
            startedAt: startedAt,
            connections: hub.connectionCount,
            version: wscenterVersion,
            expiresAt: epochMilliseconds() + (BrokerCommand.milliseconds(configuration.heartbeatTTL) ?? 3_000)
        )
    }

    /// Writes the heartbeat: the `node:<id>` key with its TTL and the `nodes` entry. When
    /// the key had expired (this node stalled longer than its TTL, and the janitor may have
    /// removed its bindings), the bindings are rewritten.
    /// - Returns: whether that resync was requested.
    @discardableResult
    func beat() async throws -> Bool {
        let text = info.encoded()
        let values = try await broker.execute([
            .ttl(key: keys.node(configuration.nodeID)),
            .set(key: keys.node(configuration.nodeID), value: text, ttl: configuration.heartbeatTTL),
            .hashSet(key: keys.nodes, fields: [configuration.nodeID: text]),
        ], atomically: true)
        lastBeat.store(epochMilliseconds(), ordering: .relaxed)
        let hadBeaten = hasBeaten.exchange(true, ordering: .relaxed)
        guard case .int(let ttl) = values.first, ttl < 0, hadBeaten else { return false }
        logger.warning("this node's heartbeat key was gone: rewriting its bindings")
        requestResync()
        return true
    }

    /// Everything this node wrote to the broker is written again: bindings and protocols' state.
    private func requestResync() {
        sync.requestResync()
        for clientProtocol in protocols { clientProtocol.resync(on: self) }
    }

    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            do {
                try await beat()
            } catch is CancellationError {
                return
            } catch {
                logger.debug("heartbeat not written", metadata: ["error": "\(error)"])
            }
        }
    }

    private func janitorLoop() async {
        var janitor = NodeJanitor(broker: broker, keys: keys, nodeID: configuration.nodeID, logger: logger, sessionTTL: configuration.reconnectionTTL)
        janitor.forgetProtocolState = { [protocols] dead in
            for clientProtocol in protocols { try await clientProtocol.forgetNode(dead, on: self) }
        }
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.janitorInterval)
            do {
                try await janitor.sweep()
            } catch {
                logger.debug("janitor pass failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Hands the sessions away on this node to another live node, at one point of the calls'
    /// order (see ``NodeOperation/adoptSessions(from:to:sessions:)``), and waits until this
    /// node's recordings for them are written. Without another node, they are lost with this one.
    private func handOverAwaySessions() async {
        let sessions = hub.awaySessions()
        guard !sessions.isEmpty, let requester = requester.withLock({ $0 }) else { return }
        do {
            guard let target = try await directory.liveNodes().filter({ $0 != configuration.nodeID }).randomElement() else {
                logger.warning("no other node to take over the sessions away here", metadata: ["sessions": "\(sessions.count)"])
                return
            }
            let answers = try await requester.call(
                [.adoptSessions(from: configuration.nodeID, to: target, sessions: sessions)],
                on: keys.broadcastChannel, awaiting: [configuration.nodeID, target], timeout: configuration.callTimeout
            )
            await mailboxes.flush()
            logger.info("handed over sessions", metadata: [
                "sessions": "\(sessions.count)", "to": "\(target)", "acknowledged": "\(answers[target] != nil)",
            ])
        } catch {
            logger.warning("could not hand over the sessions away here", metadata: ["error": "\(error)"])
        }
    }

    /// Takes this node out of the fleet's view (on an orderly stop).
    private func leave() async {
        do {
            for clientProtocol in protocols { try await clientProtocol.forgetNode(configuration.nodeID, on: self) }
            try await NodeJanitor.forgetNode(configuration.nodeID, broker: broker, keys: keys, sessionTTL: configuration.reconnectionTTL)
            try await broker.publish(configuration.nodeID, to: keys.nodeEventsChannel)
        } catch {
            logger.warning("could not remove this node from the broker; the janitor will", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Calls

    private func serveCalls(_ bus: BrokerSubscription) async {
        await withDiscardingTaskGroup { group in
            for await message in bus {
                let request: BrokerRequest
                let call: NodeCall
                do {
                    request = try BrokerRequest(decoding: message.payload)
                    call = try NodeCall(wireText: request.body.utf8)
                } catch {
                    logger.warning("ignored a malformed call", metadata: ["channel": "\(message.channel)", "error": "\(error)"])
                    continue
                }
                // Operations run here, in arrival order; only the reply is sent concurrently.
                let results = hub.execute(call.operations)
                let body = NodeCallReply(results: results).wireText()
                let claims = call.operations.contains { if case .claimSession = $0 { true } else { false } }
                group.addTask {
                    // A claimed session's mailbox must be complete before the claimant reads it.
                    if claims { await self.mailboxes.flush() }
                    do {
                        try await self.broker.reply(to: request, from: self.configuration.nodeID, body: body)
                    } catch {
                        self.logger.debug("reply not sent", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }
}
