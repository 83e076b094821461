import FleetCore
import FleetNode
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Observability
import WebSocketCore

/// The native JSON protocol on `ws://host:PORT/`: `{"cmd":"open","_id":...}` first; `ping`
/// (text) → `{"cmd":"pong","_id":...}`; JSON commands `ping`, `join`, `leave`, `broadcast`,
/// `reconnect`, each answered with an ack or an error; and whatever the API sends, in order.
/// docs/protocol.md describes it.
public struct NativeProtocol: ClientProtocol {
    public struct Configuration: Sendable, Hashable {
        public var rooms = RoomPolicy()
        /// Messages per second a client may send; 0 = unlimited.
        public var rateLimit: Double = 50
        /// Who may connect (`CLIENT_TOKENS`, `JWT_SECRET`); open by default.
        public var authenticator = ClientAuthenticator()
        /// Failed `reconnect` attempts a connection may make before it is closed (1008).
        public var reconnectionMaxAttempts = 5

        public init(
            rooms: RoomPolicy = RoomPolicy(), rateLimit: Double = 50, authenticator: ClientAuthenticator = ClientAuthenticator(),
            reconnectionMaxAttempts: Int = 5
        ) {
            self.rooms = rooms
            self.rateLimit = rateLimit
            self.authenticator = authenticator
            self.reconnectionMaxAttempts = reconnectionMaxAttempts
        }
    }

    public let configuration: Configuration
    public var path: RouterPath { "/" }
    public var name: String { "native" }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Refuses an upgrade without a valid credential (answered 401, no socket).
    public func refusal(of request: UpgradeRequest) -> String? {
        if case .failure(let refusal) = admission(of: request) { return refusal.description }
        return nil
    }

    private func admission(of request: UpgradeRequest) -> Result<ClientAuthenticator.Admission, ClientAuthenticator.Refusal> {
        configuration.authenticator.admit(queryToken: request.query("token"), authorization: request.headerValues(.authorization).first)
    }

    public func session(for request: UpgradeRequest, on node: NodeService) -> any WebSocketDelegate {
        NativeSocketSession(admission: admission(of: request), node: node, configuration: configuration)
    }
}

/// One client's side of the native protocol, driven by its socket's events on the socket's
/// event loop: the greeting, the rate limit, command dispatch and replies, in order.
///
/// Commands that need the broker (a resume, a broadcast, a join into a capped room) run in a
/// task of their own; meanwhile the client's next messages wait (at most
/// ``waitingLimit``), so that replies keep the order of the commands.
final class NativeSocketSession: WebSocketDelegate, DrainableSocket, @unchecked Sendable {
    /// Messages a client may send while one of its commands waits for the broker.
    static let waitingLimit = 64

    private let node: NodeService
    private let configuration: NativeProtocol.Configuration
    private let admission: Result<ClientAuthenticator.Admission, ClientAuthenticator.Refusal>
    // Set at the open (on the loop, before the drain can see the session).
    private var socket: ServerWebSocket?
    private var connection: NodeConnection?
    // Loop only.
    private var limiter: RateLimiter
    private var failedReconnects = 0
    private var busy = false
    /// With when each arrived: the rate limit counts a message then, not when it runs.
    private var waiting: [(message: ByteBuffer, isText: Bool, arrivedAt: Double)] = []

    init(
        admission: Result<ClientAuthenticator.Admission, ClientAuthenticator.Refusal>, node: NodeService,
        configuration: NativeProtocol.Configuration
    ) {
        self.admission = admission
        self.node = node
        self.configuration = configuration
        self.limiter = RateLimiter(rate: configuration.rateLimit, now: Self.now())
    }

    private static func now() -> Double {
        let elapsed = ContinuousClock.now - processStart
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    // MARK: The socket's events

    func webSocketDidOpen(_ socket: ServerWebSocket) {
        self.socket = socket
        // The guard and the upgrader checked the request; the protocol checks it once more,
        // so that no spelling of a request that slipped past them is served. A JWT's subject
        // binds the connection to its user.
        let userID: String?
        switch admission {
        case .success(let admission):
            userID = admission.userID
        case .failure(let refusal):
            node.logger.error("a WebSocket without a valid credential reached the native protocol: closed", metadata: ["refusal": "\(refusal)"])
            socket.close(code: .policyViolation, reason: String(refusal.description.prefix(100)))
            return
        }
        let token = SessionStore.makeToken()
        // When the connection ends, the hub turns its session away (and records for it) and
        // the binding sync writes it away in the broker.
        let connection = node.openConnection(socket, greeting: {
            [#"{"cmd":"open","_id":"\#($0)"}"#, #"{"type":"reconnect_token","token":"\#(token)"}"#]
        }, sessionToken: token, drain: self)
        self.connection = connection
        if let userID {
            _ = node.hub.execute([.event(.bindId, EventArguments(id: userID, connectionID: connection.id))])
        }
        // The session is written before any command runs.
        busy = true
        let node = node
        Task {
            do {
                try await node.sessions.open(token: token, connectionID: connection.id)
            } catch {
                node.logger.warning("session not recorded: this connection cannot be resumed", metadata: ["error": "\(error)"])
            }
            socket.eventLoop.execute { self.commandEnded() }
        }
    }

    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {
        node.meter(named: "native").received(bytes: message.readableBytes)
        guard !busy else {
            guard waiting.count < Self.waitingLimit else {
                node.logger.notice("closing a connection that floods commands", metadata: ["_id": "\(connection?.id ?? "")"])
                socket.close(code: .policyViolation, reason: "too many messages while a command is in progress")
                return
            }
            waiting.append((message, isText, Self.now()))
            return
        }
        receive(message, isText: isText, arrivedAt: Self.now())
    }

    func webSocketDidClose(_ socket: ServerWebSocket) {
        waiting = []
        if let connection {
            node.closeConnection(connection, drain: self)
        }
    }

    // MARK: Drain

    func drain() {
        guard let socket else { return }
        socket.eventLoop.execute {
            guard let connection = self.connection else { return }
            // The connection leaves the hub before its close goes out: its session is away
            // from then on, so every later message is recorded for the resume, none lost.
            self.node.hub.close(connection.id)
            connection.close(NodeService.serviceRestart, reason: "service restart")
        }
    }

    func cut() {
        guard let socket else { return }
        socket.eventLoop.execute { socket.cut() }
    }

    // MARK: Messages

    /// A command that waited for the broker has ended: the messages that came meanwhile run.
    private func commandEnded() {
        busy = false
        while !busy, !waiting.isEmpty {
            let (message, isText, arrivedAt) = waiting.removeFirst()
            receive(message, isText: isText, arrivedAt: arrivedAt)
        }
    }

    private func receive(_ message: ByteBuffer, isText: Bool, arrivedAt: Double) {
        guard let connection, let socket, !socket.isClosing else { return }
        switch limiter.admit(at: arrivedAt) {
        case .allowed:
            break
        case .limited:
            reply(.error(ProtocolError(.rateLimited, "more than \(configuration.rateLimit.formatted()) messages per second")))
            return
        case .abusive:
            node.logger.notice("closing a connection that ignores the rate limit", metadata: ["_id": "\(connection.id)"])
            connection.close(.policyViolation, reason: "rate limit exceeded")
            return
        }
        guard isText else {
            reply(.error(ProtocolError(.invalidJSON, "binary messages are not part of the protocol; send JSON text")))
            return
        }
        let text = String(buffer: message)
        node.received(text, from: connection.id)
        if text == "ping" {
            connection.send(#"{"cmd":"pong","_id":"\#(connection.id)"}"#)
            return
        }
        switch ClientCommand.parse(text) {
        case .failure(let error):
            reply(.error(error))
        case .success(.reconnect(let token)):
            run { session in await session.resume(token) } then: { session, outcome in session.resumed(outcome) }
        case .success(let command):
            node.hub.settle(connection.id)
            if let reply = runAtOnce(command) {
                self.reply(reply)
            } else {
                run { session in await session.runWithBroker(command) } then: { session, reply in session.reply(reply) }
            }
        }
    }

    /// Runs `work` in a task while the client's next messages wait; `then` runs on the loop.
    private func run<Value: Sendable>(
        _ work: @escaping @Sendable (NativeSocketSession) async -> Value,
        then: @escaping @Sendable (NativeSocketSession, Value) -> Void
    ) {
        guard let socket else { return }
        busy = true
        Task {
            let value = await work(self)
            socket.eventLoop.execute {
                then(self, value)
                self.commandEnded()
            }
        }
    }

    private enum Reply: Sendable {
        case text(String)
        case error(ProtocolError)
    }

    private func reply(_ reply: Reply) {
        switch reply {
        case .text(let text): connection?.send(text)
        case .error(let error): connection?.send(ServerMessage.error(error))
        }
    }

    /// The commands that need nothing but the hub, answered at once; nil for the others.
    private func runAtOnce(_ command: ClientCommand) -> Reply? {
        guard let connection else { return nil }
        let hub = node.hub
        switch command {
        case .ping:
            return .text(ServerMessage.pong)
        case .join(let room):
            let rooms = hub.groups(of: connection.id)
            if rooms.contains(room) { return .text(ServerMessage.joined(room)) }
            if let refusal = configuration.rooms.checkJoin(room, roomsOfConnection: rooms.count, roomSize: 0) {
                return .error(refusal)
            }
            // A capped room's size is in the broker.
            guard configuration.rooms.maxConnectionsPerRoom == 0 else { return nil }
            _ = hub.execute([.event(.joinGroupBy_Id, EventArguments(connectionID: connection.id, groups: [room]))])
            return .text(ServerMessage.joined(room))
        case .leave(let room):
            guard hub.groups(of: connection.id).contains(room) else {
                return .error(ProtocolError(.notInRoom, "not in \"\(room)\""))
            }
            _ = hub.execute([.event(.leaveGroupBy_Id, EventArguments(connectionID: connection.id, groups: [room]))])
            return .text(ServerMessage.left(room))
        case .broadcast(let room, _, _):
            guard hub.groups(of: connection.id).contains(room) else {
                return .error(ProtocolError(.notInRoom, "join \"\(room)\" before broadcasting to it"))
            }
            return nil
        case .reconnect:
            return .error(ProtocolError(.reconnectFailed, "reconnect is handled before commands"))  // see `receive`
        }
    }

    /// The commands that wait for the broker.
    private func runWithBroker(_ command: ClientCommand) async -> Reply {
        guard let connection else { return .error(ProtocolError(.unavailable, "the connection has closed")) }
        let hub = node.hub
        switch command {
        case .join(let room):
            let rooms = hub.groups(of: connection.id)
            if rooms.contains(room) { return .text(ServerMessage.joined(room)) }
            let size: Int
            do {
                size = try await node.roomSize(room)
            } catch {
                return .error(ProtocolError(.unavailable, "cannot check the room's size: the broker is unreachable"))
            }
            if let refusal = configuration.rooms.checkJoin(room, roomsOfConnection: rooms.count, roomSize: size) {
                return .error(refusal)
            }
            _ = hub.execute([.event(.joinGroupBy_Id, EventArguments(connectionID: connection.id, groups: [room]))])
            return .text(ServerMessage.joined(room))
        case .broadcast(let room, let data, let excludeSelf):
            let message = ServerMessage.roomMessage(room, from: connection.id, data: data)
            do {
                let delivered = try await node.broadcast(toRoom: room, message: message, excluding: excludeSelf ? connection.id : nil)
                return .text(ServerMessage.broadcastSent(room, delivered: delivered))
            } catch {
                return .error(ProtocolError(.unavailable, "the message could not be sent: the broker is unreachable"))
            }
        case .ping, .leave, .reconnect:
            return runAtOnce(command) ?? .error(ProtocolError(.unavailable, "the connection has closed"))
        }
    }

    // MARK: Resume

    /// What a `reconnect` came to, answered on the loop.
    private func resumed(_ outcome: ResumeOutcome) {
        switch outcome {
        case .resumed:
            break  // the reply, the replay and the held live messages are queued
        case .unavailable:
            reply(.error(ProtocolError(.unavailable, "the session could not be looked up: the broker is unreachable; try again")))
        case .unknown:
            failedReconnects += 1
            reply(.error(ProtocolError(.reconnectFailed, "unknown, expired or already used token")))
            if failedReconnects >= configuration.reconnectionMaxAttempts, let connection {
                node.logger.notice("closing a connection after too many failed reconnects", metadata: ["_id": "\(connection.id)"])
                connection.close(.policyViolation, reason: "too many failed reconnect attempts")
            }
        }
    }

    /// Takes over the session of `token` for this connection: it gets the session's user id
    /// and groups, then `reconnected`, then the messages recorded while the client was away,
    /// then live messages.
    private func resume(_ token: String) async -> ResumeOutcome {
        guard let connection else { return .unavailable }
        let sessions = node.sessions
        let record: SessionStore.Record?
        let claimed: SessionStore.Record?
        do {
            record = try await sessions.read(token)
            guard let record, record.connectionID != connection.id else { return .unknown }
            claimed = try await sessions.claim(token)  // single use
        } catch {
            return .unavailable
        }
        guard let claimed else { return .unknown }
        var binding = (id: claimed.id, groups: claimed.groups)
        if claimed.isLive {
            // Its connection is still open, or its node died: the binding records tell.
            binding = (try? await sessions.recordedBinding(of: claimed.connectionID)) ?? (nil, [])
        }
        do {
            let claim = try await node.claimSession(token, for: connection.id, id: binding.id, groups: binding.groups)
            var prefix = [ServerMessage.reconnected(previousID: claimed.connectionID, connectionID: connection.id, missed: claim.messages.count)]
            switch claim.found {
            case .away(_, complete: false):
                prefix.append(ServerMessage.replayIncomplete)
            case .away(let recorded, complete: true) where recorded > claim.stored:
                prefix.append(ServerMessage.replayTruncated(dropped: recorded - claim.stored))
            case .lost:
                prefix.append(ServerMessage.replayTruncated(dropped: nil))
            default:
                break
            }
            node.finishResume(connection.id, previousID: claimed.connectionID, missed: claim.messages.count, prefix: prefix + claim.messages)
        } catch {
            node.finishResume(connection.id, previousID: claimed.connectionID, missed: 0, prefix: [
                ServerMessage.error(ProtocolError(.unavailable, "the session could not be resumed: the broker is unreachable")),
            ])
        }
        return .resumed
    }

    enum ResumeOutcome: Sendable {
        case resumed
        /// Unknown, expired or already used: counts towards the attempt limit.
        case unknown
        /// The broker could not be asked: does not count.
        case unavailable
    }
}

/// The origin of the sessions' rate-limit clock.
private let processStart = ContinuousClock.now
