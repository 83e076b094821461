import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The HTTP/1.1 to WebSocket upgrader (RFC 6455 4.2) for NIO's typed upgrade pipeline
/// (`NIOTypedHTTPServerUpgradeHandler`, `configureUpgradableHTTPServerPipeline`).
///
/// It adds only the frame decoder; no frame encoder (``ServerWebSocket`` writes encoded
/// frames) and no protocol error handler (``ServerWebSocket`` answers decoder errors).
/// A request it refuses, or whose version or key is wrong, is not upgraded: the upgrade
/// handler fires the error and hands the request to the not-upgrading handler.
public struct WebSocketServerUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader, Sendable {
    /// "websocket".
    public let supportedProtocol = "websocket"
    /// None that NIO checks against `Connection`: the key and version are checked here.
    public let requiredUpgradeHeaders: [String] = []

    private let shouldUpgrade: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>
    private let upgradePipelineHandler: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>

    /// Creates the upgrader.
    /// - Parameters:
    ///   - shouldUpgrade: Decides on a valid request: nil refuses it, headers accept it and
    ///     go into the 101 response (besides Upgrade, Connection and Sec-WebSocket-Accept).
    ///   - upgradePipelineHandler: Called once the 101 is flushed: adds
    ///     the ``ServerWebSocket`` and anything else.
    public init(
        shouldUpgrade: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
        upgradePipelineHandler: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>
    ) {
        self.shouldUpgrade = shouldUpgrade
        self.upgradePipelineHandler = upgradePipelineHandler
    }

    /// Checks the handshake headers, asks `shouldUpgrade`, and returns the 101's headers.
    public func buildUpgradeResponse(
        channel: any Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        let accept: String
        do {
            accept = try WebSocketHandshake.validate(upgradeRequest.headers)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return self.shouldUpgrade(channel, upgradeRequest).flatMapThrowing { extra in
            guard var headers = extra else { throw NIOWebSocketUpgradeError.unsupportedWebSocketTarget }
            headers.replaceOrAdd(name: "Upgrade", value: "websocket")
            headers.replaceOrAdd(name: "Connection", value: "upgrade")
            headers.replaceOrAdd(name: "Sec-WebSocket-Accept", value: accept)
            return headers
        }
    }

    /// Calls `upgradePipelineHandler`, which adds the ``ServerWebSocket`` (it reads the
    /// frames itself: there is no decoder to add).
    public func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        self.upgradePipelineHandler(channel, upgradeRequest)
    }
}
