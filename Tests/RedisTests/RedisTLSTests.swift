import Foundation
import Redis
import Testing
import WSCTesting

/// `rediss://`: TLS to a real redis-server listening with `--tls-port`.
@Suite("Redis over TLS")
struct RedisTLSTests {
    @Test("rediss:// with the CA file: commands go through TLS; a CA that did not sign the server's certificate is refused")
    func tls() async throws {
        let certificates = try await TestCertificates.make(["redis"])
        let stranger = try await TestCertificates.make([])
        defer {
            certificates.remove()
            stranger.remove()
        }
        let tlsPort = try freeTCPPort()
        let server = try await RedisServerProcess.start(extraArguments: [
            "--tls-port", "\(tlsPort)", "--tls-cert-file", certificates.certificateFile("redis"), "--tls-key-file", certificates.keyFile("redis"),
            "--tls-ca-cert-file", certificates.caFile, "--tls-auth-clients", "no",
        ])
        defer { server.kill() }
        let url = "rediss://127.0.0.1:\(tlsPort)"
        #expect(try RedisConfiguration(url: url).tls == RedisTLS())
        let caFile = certificates.caFile
        try await withClient(url: url, configure: { $0.tls = RedisTLS(caFile: caFile) }) { (client: RedisClient) async throws in
            #expect(try await client.ping() == "PONG")
            #expect(try await client.send("SET", "tls-key", "over tls") == .simpleString("OK"))
            #expect(try await client.send("GET", "tls-key").string == "over tls")
        }
        // The system's roots, or another CA, do not vouch for this server.
        for caFile in [nil, stranger.caFile] as [String?] {
            var configuration = try RedisConfiguration(url: url)
            configuration.tls = RedisTLS(caFile: caFile)
            configuration.connectTimeout = .seconds(2)
            await #expect(throws: RedisError.self, "\(String(describing: caFile))") {
                let connection = try await RedisConnection.connect(configuration: configuration)
                defer { Task { await connection.close() } }
                _ = try await connection.send(RedisCommand("PING", []))
            }
        }
        // A plain connection to the TLS port does not get an answer either.
        var plain = try RedisConfiguration(url: "redis://127.0.0.1:\(tlsPort)")
        plain.connectTimeout = .seconds(2)
        plain.commandTimeout = .seconds(2)
        await #expect(throws: RedisError.self) {
            let connection = try await RedisConnection.connect(configuration: plain)
            _ = try await connection.send(RedisCommand("PING", []))
        }
    }

    @Test("a CA file that cannot be read is a clear error")
    func badCAFile() async throws {
        var configuration = try RedisConfiguration(url: "rediss://127.0.0.1:1")
        configuration.tls = RedisTLS(caFile: "/nonexistent/ca.pem")
        let error = await #expect(throws: RedisError.self) { _ = try await RedisConnection.connect(configuration: configuration) }
        #expect(error?.message.contains("/nonexistent/ca.pem") == true, "\(String(describing: error))")
    }
}
