import FleetCore
import FleetNode
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

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

    public func serve(_ socket: ClientSocket, on node: NodeService) async throws {
        // The guard and the router checked the upgrade; the protocol checks it once more, so
        // that no spelling of a request that slipped past them is served. A JWT's subject
        // binds the connection to its user.
        let userID: String?
        switch admission(of: UpgradeRequest(socket.request)) {
        case .success(let admission):
            userID = admission.userID
        case .failure(let refusal):
            node.logger.error("a WebSocket without a valid credential reached the native protocol: closed", metadata: [
                "path": "\(socket.request.uri.path)", "refusal": "\(refusal)",
            ])
            try? await socket.outbound.close(.policyViolation, reason: String(refusal.description.prefix(100)))
            return
        }
        let token = SessionStore.makeToken()
        // When the connection ends, the hub turns its session away (and records for it) and the
        // binding sync writes it away in the broker: nothing to do here after the body.
        try await node.withConnection(socket, greeting: {
            [#"{"cmd":"open","_id":"\#($0)"}"#, #"{"type":"reconnect_token","token":"\#(token)"}"#]
        }, sessionToken: token) { connection in
            do {
                try await node.sessions.open(token: token, connectionID: connection.id)
            } catch {
                node.logger.warning("session not recorded: this connection cannot be resumed", metadata: ["error": "\(error)"])
            }
            if let userID {
                _ = node.hub.execute([.event(.bindId, EventArguments(id: userID, connectionID: connection.id))])
            }
            var session = NativeSession(connection: connection, node: node, configuration: configuration)
            for try await message in socket.messages(maxSize: node.configuration.maxMessageSize) {
                guard try await session.receive(message, outbound: socket.outbound) else { return }
            }
        }
    }
}

/// One client's side of the native protocol: rate limit, command dispatch, replies.
struct NativeSession {
    let connection: NodeConnection
    let node: NodeService
    let configuration: NativeProtocol.Configuration
    private var limiter: RateLimiter
    private var failedReconnects = 0
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    init(connection: NodeConnection, node: NodeService, configuration: NativeProtocol.Configuration) {
        self.connection = connection
        self.node = node
        self.configuration = configuration
        self.start = clock.now
        self.limiter = RateLimiter(rate: configuration.rateLimit, now: 0)
    }

    /// Handles one message; false when the connection must close (it has been closed).
    mutating func receive(_ message: WebSocketMessage, outbound: WebSocketOutboundWriter) async throws -> Bool {
        let elapsed = clock.now - start
        let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        switch limiter.admit(at: now) {
        case .allowed:
            break
        case .limited:
            reply(.error(ProtocolError(.rateLimited, "more than \(configuration.rateLimit.formatted()) messages per second")))
            return true
        case .abusive:
            node.logger.notice("closing a connection that ignores the rate limit", metadata: ["_id": "\(connection.id)"])
            connection.close(.policyViolation, reason: "rate limit exceeded")
            return false
        }
        guard case .text(let text) = message else {
            reply(.error(ProtocolError(.invalidJSON, "binary messages are not part of the protocol; send JSON text")))
            return true
        }
        node.received(text, from: connection.id)
        if text == "ping" {
            connection.send(#"{"cmd":"pong","_id":"\#(connection.id)"}"#)
            return true
        }
        switch ClientCommand.parse(text) {
        case .failure(let error):
            reply(.error(error))
        case .success(.reconnect(let token)):
            switch await resume(token) {
            case .resumed:
                break  // the reply, the replay and the held live messages are queued
            case .unavailable:
                reply(.error(ProtocolError(.unavailable, "the session could not be looked up: the broker is unreachable; try again")))
            case .unknown:
                failedReconnects += 1
                reply(.error(ProtocolError(.reconnectFailed, "unknown, expired or already used token")))
                if failedReconnects >= configuration.reconnectionMaxAttempts {
                    node.logger.notice("closing a connection after too many failed reconnects", metadata: ["_id": "\(connection.id)"])
                    connection.close(.policyViolation, reason: "too many failed reconnect attempts")
                    return false
                }
            }
        case .success(let command):
            node.hub.settle(connection.id)
            reply(await run(command))
        }
        return true
    }

    private enum Reply {
        case text(String)
        case error(ProtocolError)
    }

    private func reply(_ reply: Reply) {
        switch reply {
        case .text(let text): connection.send(text)
        case .error(let error): connection.send(ServerMessage.error(error))
        }
    }

    private func run(_ command: ClientCommand) async -> Reply {
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
            var size = 0
            if configuration.rooms.maxConnectionsPerRoom > 0 {
                do {
                    size = try await node.roomSize(room)
                } catch {
                    return .error(ProtocolError(.unavailable, "cannot check the room's size: the broker is unreachable"))
                }
            }
            if let refusal = configuration.rooms.checkJoin(room, roomsOfConnection: rooms.count, roomSize: size) {
                return .error(refusal)
            }
            _ = hub.execute([.event(.joinGroupBy_Id, EventArguments(connectionID: connection.id, groups: [room]))])
            return .text(ServerMessage.joined(room))
        case .leave(let room):
            guard hub.groups(of: connection.id).contains(room) else {
                return .error(ProtocolError(.notInRoom, "not in \"\(room)\""))
            }
            _ = hub.execute([.event(.leaveGroupBy_Id, EventArguments(connectionID: connection.id, groups: [room]))])
            return .text(ServerMessage.left(room))
        case .broadcast(let room, let data, let excludeSelf):
            guard hub.groups(of: connection.id).contains(room) else {
                return .error(ProtocolError(.notInRoom, "join \"\(room)\" before broadcasting to it"))
            }
            let message = ServerMessage.roomMessage(room, from: connection.id, data: data)
            do {
                let delivered = try await node.broadcast(toRoom: room, message: message, excluding: excludeSelf ? connection.id : nil)
                return .text(ServerMessage.broadcastSent(room, delivered: delivered))
            } catch {
                return .error(ProtocolError(.unavailable, "the message could not be sent: the broker is unreachable"))
            }
        case .reconnect:
            return .error(ProtocolError(.reconnectFailed, "reconnect is handled before commands"))  // see `receive`
        }
    }

    /// Takes over the session of `token` for this connection: it gets the session's user id
    /// and groups, then `reconnected`, then the messages recorded while the client was away,
    /// then live messages.
    private func resume(_ token: String) async -> ResumeOutcome {
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

    enum ResumeOutcome {
        case resumed
        /// Unknown, expired or already used: counts towards the attempt limit.
        case unknown
        /// The broker could not be asked: does not count.
        case unavailable
    }
}
