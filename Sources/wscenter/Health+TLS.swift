import NIOCore
import NIOPosix
import NIOSSL

extension Health {
    /// The HTTP status of `GET path` over TLS, for a node or gateway serving `https://`. The
    /// probe asks this host's own process, so the certificate is not verified (it may be made
    /// out to the public name, not to 127.0.0.1).
    static func probeTLS(address: String, port: Int, path: String, timeout: Double) -> Result<Int, ProbeFailure> {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            let context = try NIOSSLContext(configuration: configuration)
            let group = MultiThreadedEventLoopGroup.singleton
            let firstLine = group.next().makePromise(of: String.self)
            let channel = try ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(timeout * 1000)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHandler(StatusLineReader(promise: firstLine))
                    }
                }
                .connect(host: address, port: port).wait()
            defer { channel.close(promise: nil) }
            channel.eventLoop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
                firstLine.fail(ProbeFailure(description: "no answer within \(timeout) s"))
            }
            let request = "GET \(path) HTTP/1.1\r\nHost: \(address):\(port)\r\nConnection: close\r\n\r\n"
            try channel.writeAndFlush(ByteBuffer(string: request)).wait()
            let line = try firstLine.futureResult.wait()
            let parts = line.split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
                return .failure(ProbeFailure(description: "no HTTP answer"))
            }
            return .success(status)
        } catch let failure as ProbeFailure {
            return .failure(failure)
        } catch {
            return .failure(ProbeFailure(description: "TLS: \(error)"))
        }
    }
}

/// Completes its promise with the first line the server sends (or fails it when the
/// connection ends first).
private final class StatusLineReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<String>
    private var received = ""

    init(promise: EventLoopPromise<String>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readString(length: buffer.readableBytes) ?? ""
        if let end = received.firstIndex(where: { $0 == "\r" || $0 == "\n" }) {
            promise.succeed(String(received[..<end]))
        } else if received.utf8.count > 4096 {
            promise.fail(Health.ProbeFailure(description: "no HTTP answer"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(Health.ProbeFailure(description: "connection closed without an answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
