import FleetHTTP
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The node's decision on each WebSocket upgrade request, made before the upgrader sees it,
/// in this order: draining (503), `Origin` (403), the protocol's credentials (401), then a
/// connection slot (503 for the node, 429 for the client's address). A refused upgrade gets
/// its status and a reason, and no socket ever opens. (The upgrader alone can only answer 400.)
final class UpgradeGate: Sendable {
    let protocols: [any ClientProtocol]
    let origins: OriginPolicy
    private let isDraining: @Sendable () -> Bool
    private let limits: Mutex<ConnectionLimits>

    init(protocols: [any ClientProtocol], configuration: NodeConfiguration, isDraining: @escaping @Sendable () -> Bool) {
        self.protocols = protocols
        self.origins = configuration.allowedOrigins
        self.isDraining = isDraining
        self.limits = Mutex(ConnectionLimits(maxConnections: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerIP))
    }

    /// Admits the upgrade (taking a connection slot for `address`, to be given back with
    /// ``release(_:)``) or refuses it.
    func decide(_ head: HTTPRequestHead, address: String) -> UpgradeRefusal? {
        if isDraining() {
            return UpgradeRefusal(status: .serviceUnavailable, reason: "this node is shutting down: connect again to reach another node")
        }
        guard origins.allows(head.headers["origin"]) else {
            return UpgradeRefusal(status: .forbidden, reason: "this Origin may not open a WebSocket here (ALLOWED_ORIGINS)")
        }
        let request = UpgradeRequest(head: head)
        let segments = request.pathSegments
        if let refusal = protocols.lazy.filter({ $0.path.matches(segments) }).compactMap({ $0.refusal(of: request) }).first {
            return UpgradeRefusal(status: .unauthorized, reason: refusal)
        }
        switch limits.withLock({ $0.reserve(address) }) {
        case nil:
            return nil
        case .nodeFull(let limit)?:
            return UpgradeRefusal(status: .serviceUnavailable, reason: "this node holds its maximum of \(limit) connections: try again later")
        case .addressFull(let limit)?:
            return UpgradeRefusal(status: .tooManyRequests, reason: "at most \(limit) connections per client address")
        }
    }

    /// Gives back the slot an admitted upgrade took.
    func release(_ address: String) {
        limits.withLock { $0.release(address) }
    }

    /// The connections counted now (admitted upgrades whose TCP connection is still open).
    var connections: Int { limits.withLock { $0.total } }
}

/// Sits right after the HTTP request decoder for a connection's first request: lets it
/// through, unless it asks for a WebSocket (as NIO's upgrader reads the request) and the gate
/// refuses it, which it answers with the refusal's status and closes.
final class UpgradeGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let gate: UpgradeGate
    private var refusing = false

    init(gate: UpgradeGate) {
        self.gate = gate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part, HTTPUpgrade.isAttempt(head), let problem = HTTPUpgrade.handshakeProblem(head) {
            // NIO's upgrader would take it over and not upgrade it: refused here, and closed,
            // so that a connection whose first request carries Upgrade is a WebSocket or gone.
            refuse(UpgradeRefusal(status: .badRequest, reason: problem), version: head.version, context: context)
            return
        }
        if case .head(let head) = part, UpgradeRequest.asksForWebSocket(head) {
            let address = context.channel.remoteAddress?.ipAddress ?? "local"
            if let refused = gate.decide(head, address: address) {
                refuse(refused, version: head.version, context: context)
                return
            }
            // The slot is held until this TCP connection closes, whatever becomes of it.
            let gate = gate
            context.channel.closeFuture.whenComplete { _ in gate.release(address) }
        }
        guard !refusing else { return }  // the rest of a refused request
        context.fireChannelRead(data)
        if case .head = part {
            // Only a connection's first request can be an upgrade (the upgrader looks at no
            // other), and after an upgrade the bytes are WebSocket frames: step aside.
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func refuse(_ refused: UpgradeRefusal, version: HTTPVersion, context: ChannelHandlerContext) {
        refusing = true
        var body = context.channel.allocator.buffer(capacity: refused.reason.utf8.count + 1)
        body.writeString(refused.reason + "\n")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        if refused.status == .serviceUnavailable || refused.status == .tooManyRequests {
            headers.add(name: "Retry-After", value: "5")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: refused.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension UpgradeGuardHandler: Sendable {}

/// An upgrade request turned down: its status and the reason in the body.
struct UpgradeRefusal: Sendable {
    var status: HTTPResponseStatus
    var reason: String
}
