import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// An HTTP/1 server channel with checks between the request decoder and the rest: the read
/// timeout (`HTTP_READ_TIMEOUT`, see ``ReadTimeoutHandler``) and any handlers a server adds
/// (the node's upgrade guard). They see NIO's request parts before Hummingbird does, and
/// before a WebSocket upgrader decides anything.
package struct GuardedHTTPChannel<Base: ServerChildChannel>: ServerChildChannel {
    package typealias Value = Base.Value

    let base: Base
    let readTimeout: Duration?
    let handlers: @Sendable (any Channel) -> [any ChannelHandler]

    /// - Parameters:
    ///   - base: the HTTP/1 channel (plain, or with WebSocket upgrades).
    ///   - readTimeout: how long a connection has to send each request; nil for no limit.
    ///   - handlers: more handlers, after the decoder and the read timeout, made for each connection.
    package init(
        base: Base, readTimeout: Duration?,
        handlers: @escaping @Sendable (any Channel) -> [any ChannelHandler] = { _ in [] }
    ) {
        self.base = base
        self.readTimeout = readTimeout
        self.handlers = handlers
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            // The read timeout first, so that it sees every request part and every response
            // part, including those a later handler answers itself.
            var added: [any ChannelHandler] = readTimeout.map { [ReadTimeoutHandler(timeout: $0)] } ?? []
            added += handlers(channel)
            try operations.addHandlers(added, position: .after(decoder))
            return value
        }
    }

    package func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
