import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import WebSocketCore

/// The node's HTTP/1 connections: a connection's first request may upgrade to a WebSocket of
/// one of the node's client protocols; everything else is plain HTTP for the router.
///
/// An upgraded connection is a ``ServerWebSocket`` handler on its event loop, driving its
/// protocol's session: no task is left waiting on it (the server's task for the connection
/// ends as soon as the upgrade is done).
struct NodeUpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        /// Upgraded: the socket lives in the channel's pipeline.
        case webSocket
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// The first request asked for an upgrade that was not made.
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let protocols: [any ClientProtocol]
    let node: NodeService
    let options: WebSocketOptions

    /// The protocol whose path the request's path matches, as the router matches paths.
    private func clientProtocol(for request: UpgradeRequest) -> (any ClientProtocol)? {
        let segments = request.pathSegments
        return protocols.first { $0.path.matches(segments) }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Before the first read: a channel keeps its last read buffer, and most of them
            // will be idle WebSockets.
            try channel.syncOptions?.setOption(.recvAllocator, value: ServerWebSocket.readAllocator)
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let upgrader = WebSocketServerUpgrader<UpgradeResult>(
                shouldUpgrade: { channel, head in
                    upgradeAttempted.value = true
                    // The guard checked the request already; the decision checks it again, by
                    // the same reading, so that no spelling gets a socket past it.
                    let request = UpgradeRequest(head: head)
                    guard let clientProtocol = clientProtocol(for: request), clientProtocol.refusal(of: request) == nil else {
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                },
                upgradePipelineHandler: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        let request = UpgradeRequest(head: head)
                        guard let clientProtocol = clientProtocol(for: request) else { throw ChannelError.inappropriateOperationForState }
                        let socket = ServerWebSocket(options: options, delegate: clientProtocol.session(for: request, on: node), eventLoop: channel.eventLoop)
                        try channel.pipeline.syncOperations.addHandler(socket)
                        return .webSocket
                    }
                }
            )
            let serverUpgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return upgradeAttempted.value ? .failedUpgrade(http) : .notUpgraded(http)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: serverUpgrade)
            configuration.enablePipelining = false  // NIOAsyncChannel reads one request at a time
            configuration.enableErrorHandling = false  // Hummingbird answers errors
            configuration.enableResponseHeaderValidation = false  // HTTPTypes validates them
            let upgradeResult = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(upgradeResult: upgradeResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .webSocket:
                return  // the socket's handler has it from here
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .failedUpgrade(let http):
                await refuseUpgrade(http)
            }
        } catch {
            logger.debug("a connection ended during its upgrade", metadata: ["error": "\(error)"])
        }
    }

    /// 400 and close: an upgrade the decision refused (the guard answers most refusals with
    /// their own status before this).
    private func refuseUpgrade(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>) async {
        try? await http.executeThenClose { _, outbound in
            let response = HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])
            try await outbound.write(contentsOf: [.head(response), .end(nil)])
        }
    }
}
