import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing
import WSCTesting

/// `wss://` and `https://` from `wscenter serve` with TLS_CERT_FILE/TLS_KEY_FILE: the node and
/// the gateway serve only TLS, `wscenter health` probes over TLS, and SIGHUP swaps the
/// certificate for new connections.
@Suite("TLS on nodes and gateways", .serialized)
struct TLSTests {
    @Test("serve over TLS: wss:// and https:// with the CA, no plaintext; SIGHUP reloads the certificate; health probes TLS")
    func serveOverTLS() async throws {
        let certificates = try await TestCertificates.make(["one", "two"])
        defer { certificates.remove() }
        // The files the process reads: "one" now, "two" after the reload.
        let certificate = certificates.directory.appendingPathComponent("live.pem")
        let key = certificates.directory.appendingPathComponent("live-key.pem")
        try FileManager.default.copyItem(atPath: certificates.certificateFile("one"), toPath: certificate.path)
        try FileManager.default.copyItem(atPath: certificates.keyFile("one"), toPath: key.path)

        let serve = try ServiceProcess.start(
            executable: try wscenterBinary(),
            arguments: [
                "serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--app-secret", "tls-test-secret",
                "--tls-cert-file", certificate.path, "--tls-key-file", key.path,
            ],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT", "APP_SECRET", "TLS_CERT_FILE", "TLS_KEY_FILE"]
        )
        defer { serve.kill() }
        let (port, httpPort) = (try await serve.listeningPort(role: "node"), try await serve.listeningPort(role: "gateway"))
        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .file(certificates.caFile)

        // By name: the certificate is made out to localhost as well as 127.0.0.1.
        let socket = try await TestWebSocket.connect("wss://localhost:\(port)/", tls: trusting)
        #expect(try await socket.nextJSON()["cmd"] as? String == "open")
        #expect(try await socket.nextJSON()["type"] as? String == "reconnect_token")
        let api = try await TLSExchange.run(port: httpPort, caFile: certificates.caFile, "GET /?event=getConnectionCount HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(api.response.hasPrefix("HTTP/1.1 200") && api.response.contains(#""getConnectionCount""#), "\(api.response)")
        #expect(api.certificate == (try NIOSSLCertificate.fromPEMFile(certificates.certificateFile("one")).first))

        // No plaintext on a TLS port.
        let plain = try await RawHTTP.exchange(port: httpPort, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", linger: 0.3)
        #expect(plain.status != 200, "\(plain)")
        // A client that does not trust the CA does not get through.
        await #expect(throws: (any Error).self) {
            _ = try await TLSExchange.run(port: httpPort, caFile: nil, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        }

        // Reload: new files, SIGHUP; new connections get the new certificate, the open one stays.
        try FileManager.default.removeItem(at: certificate)
        try FileManager.default.removeItem(at: key)
        try FileManager.default.copyItem(atPath: certificates.certificateFile("two"), toPath: certificate.path)
        try FileManager.default.copyItem(atPath: certificates.keyFile("two"), toPath: key.path)
        serve.signal(SIGHUP)
        let two = try NIOSSLCertificate.fromPEMFile(certificates.certificateFile("two")).first
        try await eventually("new connections get the reloaded certificate") {
            try await TLSExchange.run(port: port, caFile: certificates.caFile, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").certificate == two
        }
        #expect(serve.output().contains("TLS certificate reloaded"))
        try await socket.send("ping")
        #expect(try await socket.nextJSON()["cmd"] as? String == "pong")

        // A broken pair on the next SIGHUP is refused; the server keeps its certificate.
        try Data("not a certificate".utf8).write(to: certificate)
        serve.signal(SIGHUP)
        try await eventually("the failed reload is logged") { serve.output().contains("TLS certificate not reloaded") }
        let still = try await TLSExchange.run(port: httpPort, caFile: certificates.caFile, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(still.response.hasPrefix("HTTP/1.1 200") && still.certificate == two)

        // The container probe speaks TLS when TLS_CERT_FILE is set.
        let health = try await runHealth(["--ports", "\(httpPort)"], environment: ["TLS_CERT_FILE": certificate.path])
        #expect(health.status == 0, "\(health.output)")
        #expect(try await runHealth(["--ports", "\(httpPort)", "--no-tls"], environment: [:]).status != 0)

        serve.kill(SIGTERM)
        #expect(serve.termination == "exit status 0", "\(serve.output())")
    }

    @Test("a certificate without its key, or files that cannot be read, stop the process naming them")
    func badFiles() async throws {
        let certificates = try await TestCertificates.make(["one"])
        defer { certificates.remove() }
        for (arguments, expected) in [
            (["--tls-cert-file", certificates.certificateFile("one")], "TLS_KEY_FILE"),
            (["--tls-cert-file", "/nonexistent.pem", "--tls-key-file", certificates.keyFile("one")], "/nonexistent.pem"),
            (["--tls-cert-file", certificates.certificateFile("one"), "--tls-key-file", certificates.caFile], certificates.caFile),
        ] {
            let result = try await runWSCenter(["serve", "--port", "0", "--http-port", "0"] + arguments)
            #expect(result.status != 0 && result.output.contains(expected), "\(arguments): \(result.output)")
        }
    }

    @Test("a fleet on rediss:// with REDIS_TLS_CA_FILE works end to end; REDIS_TLS_CA_FILE with redis:// is refused")
    func redisOverTLS() async throws {
        let certificates = try await TestCertificates.make(["redis"])
        defer { certificates.remove() }
        let tlsPort = try freeTCPPort()
        let redis = try await RedisServerProcess.start(extraArguments: [
            "--tls-port", "\(tlsPort)", "--tls-cert-file", certificates.certificateFile("redis"), "--tls-key-file", certificates.keyFile("redis"),
            "--tls-ca-cert-file", certificates.caFile, "--tls-auth-clients", "no",
        ])
        defer { redis.kill() }
        let serve = try ServiceProcess.start(
            executable: try wscenterBinary(),
            arguments: [
                "serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--redis-url", "rediss://127.0.0.1:\(tlsPort)",
                "--redis-tls-ca-file", certificates.caFile, "--redis-prefix", "tls\(UInt16.random(in: 0...UInt16.max)):",
            ],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT", "TLS_CERT_FILE", "TLS_KEY_FILE"]
        )
        defer { serve.kill() }
        let (port, httpPort) = (try await serve.listeningPort(role: "node"), try await serve.listeningPort(role: "gateway"))
        let socket = try await TestWebSocket.connect("ws://127.0.0.1:\(port)/")
        let id = try #require(try await socket.nextJSON()["_id"] as? String)
        let api = APIClient(ports: [httpPort])
        try await eventually("the node is in master_ids") { try await api.get("event=getConnectionCount").total("getConnectionCount") == 1 }
        #expect(try await api.get("event=sendMessageTo_Id&sendMessageTo_Id%5B_id%5D=\(id)&sendMessageTo_Id%5Bmsg%5D=via-tls").code == 0)
        _ = try await socket.nextJSON()  // the reconnect token
        #expect(try await socket.next() == "via-tls")
        #expect(serve.output().contains("tls=true"), "\(serve.output())")

        let refused = try await runWSCenter(["serve", "--redis-url", redis.url, "--redis-tls-ca-file", certificates.caFile])
        #expect(refused.status != 0 && refused.output.contains("rediss://"), "\(refused.output)")
    }

    private func runHealth(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
        try await runWSCenter(["health", "--timeout", "3"] + arguments, environment: environment)
    }

    /// Runs the binary to its end, waited for on a thread of its own (not the concurrency pool).
    private func runWSCenter(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let removed: Set<String> = ["REDIS_URL", "PORT", "HTTP_PORT", "TLS_CERT_FILE", "TLS_KEY_FILE", "APP_SECRET"]
        return try await ProcessRun.run(try wscenterBinary(), arguments, removing: removed, environment: environment)
    }
}

/// One HTTP exchange over TLS with NIO: the response's text and the certificate the server
/// presented. `caFile` nil trusts the system's roots only.
enum TLSExchange {
    static func run(port: Int, caFile: String?, _ request: String) async throws -> (response: String, certificate: NIOSSLCertificate?) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.trustRoots = .file(caFile) }
        let context = try NIOSSLContext(configuration: configuration)
        let group = MultiThreadedEventLoopGroup.singleton
        let presented = group.any().makePromise(of: NIOSSLCertificate?.self)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(PeerCertificateRecorder(promise: presented))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let asyncChannel = try await channel.eventLoop.submit {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }.get()
        return try await asyncChannel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var response = ""
            let reading = Task {
                var text = ""
                for try await var chunk in inbound {
                    text += chunk.readString(length: chunk.readableBytes) ?? ""
                    if text.contains("\r\n\r\n") { break }
                }
                return text
            }
            let timeout = Task {
                try await Task.sleep(for: .seconds(5))
                reading.cancel()
            }
            response = try await reading.value
            timeout.cancel()
            return (response, try await presented.futureResult.get())
        }
    }
}

/// Completes `promise` with the server's certificate when the TLS handshake completes (or
/// fails it with the handshake's error).
private final class PeerCertificateRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<NIOSSLCertificate?>

    init(promise: EventLoopPromise<NIOSSLCertificate?>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            promise.succeed(try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}
