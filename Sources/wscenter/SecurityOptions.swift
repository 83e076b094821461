import ArgumentParser
import FleetHTTP
import FleetNode

/// The options that bound what strangers can do: read timeouts, connection caps, browser
/// origins, JWT claims, and whether the Pusher side runs at all. docs/security.md lists them
/// with their defaults.
struct SecurityOptions: ParsableArguments {
    @Option(name: .customLong("pusher-enabled"), help: "Whether nodes serve the Pusher protocol and gateways its REST API: true or false (env PUSHER_ENABLED).")
    var pusherEnabled: Bool = Environment.flag("PUSHER_ENABLED", true)

    @Option(name: .customLong("http-read-timeout"), help: "Seconds a connection has to send each HTTP request (head and body), and may idle between requests, before it is closed (env HTTP_READ_TIMEOUT).")
    var httpReadTimeout: Double = Environment.value("HTTP_READ_TIMEOUT", 30)

    @Option(name: .customLong("max-connections"), help: "WebSocket connections a node holds at most; more get 503 before the upgrade; 0 = unlimited (env MAX_CONNECTIONS).")
    var maxConnections: Int = Environment.value("MAX_CONNECTIONS", 0)

    @Option(name: .customLong("max-connections-per-ip"), help: "WebSocket connections one client address may hold on a node; more get 429 before the upgrade; 0 = unlimited (env MAX_CONNECTIONS_PER_IP).")
    var maxConnectionsPerIP: Int = Environment.value("MAX_CONNECTIONS_PER_IP", 0)

    @Option(name: .customLong("max-queued-bytes"), help: "Bytes waiting to be written to one client before it is cut off as not reading (beside the 4096-message limit) (env MAX_QUEUED_BYTES).")
    var maxQueuedBytes: Int = Environment.value("MAX_QUEUED_BYTES", NodeConfiguration.defaultOutboxMaxBytes)

    @Option(name: .customLong("max-channels-per-connection"), help: "Pusher channels one connection may be subscribed to; 0 = unlimited (env MAX_CHANNELS_PER_CONNECTION).")
    var maxChannelsPerConnection: Int = Environment.value("MAX_CHANNELS_PER_CONNECTION", 100)

    @Option(name: .customLong("replay-max-bytes"), help: "Bytes kept for a disconnected client's replay, its last messages (the newest always) (env REPLAY_MAX_BYTES).")
    var replayMaxBytes: Int = Environment.value("REPLAY_MAX_BYTES", AwaySessionLimits().replayMaxBytes)

    @Option(name: .customLong("max-away-sessions-per-ip"), help: "Disconnected sessions one client address may have waiting on a node; past it its oldest is dropped; 0 = unlimited (env MAX_AWAY_SESSIONS_PER_IP).")
    var maxAwaySessionsPerIP: Int = Environment.value("MAX_AWAY_SESSIONS_PER_IP", AwaySessionLimits().maxPerAddress)

    @Option(name: .customLong("max-away-sessions-per-room"), help: "Disconnected sessions a room records messages for on a node; later ones resume with an incomplete replay; 0 = unlimited (env MAX_AWAY_SESSIONS_PER_ROOM).")
    var maxAwaySessionsPerRoom: Int = Environment.value("MAX_AWAY_SESSIONS_PER_ROOM", AwaySessionLimits().maxPerRoom)

    @Option(name: .customLong("allowed-origins"), help: "Origins a browser's WebSocket upgrade may carry, comma-separated (https://app.example.com, https://*.example.com); others get 403; no Origin header is allowed; unset or * = any (env ALLOWED_ORIGINS).")
    var allowedOriginsFlag: String?
    var allowedOriginsText: String { allowedOriginsFlag ?? environment("ALLOWED_ORIGINS") ?? "*" }

    @Option(name: .customLong("tls-cert-file"), help: "PEM certificate chain: the node serves wss:// and the gateway https:// (with --tls-key-file); reloaded on SIGHUP (env TLS_CERT_FILE).")
    var tlsCertFileFlag: String?
    var tlsCertFile: String? { tlsCertFileFlag ?? environment("TLS_CERT_FILE") }

    @Option(name: .customLong("tls-key-file"), help: "PEM private key of --tls-cert-file (env TLS_KEY_FILE).")
    var tlsKeyFileFlag: String?
    var tlsKeyFile: String? { tlsKeyFileFlag ?? environment("TLS_KEY_FILE") }

    @Option(name: .customLong("redis-tls-ca-file"), help: "PEM certificates that sign Redis's certificate, for rediss:// (default: the system's trust roots) (env REDIS_TLS_CA_FILE).")
    var redisTLSCAFileFlag: String?
    var redisTLSCAFile: String? { redisTLSCAFileFlag ?? environment("REDIS_TLS_CA_FILE") }

    @Option(name: .customLong("jwt-issuer"), help: "The iss claim a client's JWT must carry; unset = not checked (env JWT_ISSUER).")
    var jwtIssuerFlag: String?
    var jwtIssuer: String? { jwtIssuerFlag ?? environment("JWT_ISSUER") }

    @Option(name: .customLong("jwt-audience"), help: "The audience a client's JWT must name in aud; unset = not checked (env JWT_AUDIENCE).")
    var jwtAudienceFlag: String?
    var jwtAudience: String? { jwtAudienceFlag ?? environment("JWT_AUDIENCE") }

    /// The server certificate, when TLS is configured. - Throws: a validation error naming the file.
    func tlsCertificates() throws -> TLSCertificateStore? {
        switch (tlsCertFile, tlsKeyFile) {
        case (nil, nil):
            return nil
        case (let certificate?, let key?):
            do {
                return try TLSCertificateStore(certificateFile: certificate, keyFile: key)
            } catch {
                throw ValidationError("--tls-cert-file/--tls-key-file (TLS_CERT_FILE/TLS_KEY_FILE): \(error)")
            }
        default:
            throw ValidationError("TLS needs both TLS_CERT_FILE and TLS_KEY_FILE (--tls-cert-file, --tls-key-file)")
        }
    }

    /// The parsed `ALLOWED_ORIGINS`.
    func allowedOrigins() throws -> OriginPolicy {
        do {
            return try OriginPolicy(parsing: allowedOriginsText)
        } catch {
            throw ValidationError("--allowed-origins (ALLOWED_ORIGINS): \(error)")
        }
    }

    func validate() throws {
        if !(httpReadTimeout >= 1 && httpReadTimeout <= 3600) {
            throw ValidationError("--http-read-timeout (HTTP_READ_TIMEOUT) must be a number of seconds in [1, 3600], got \(httpReadTimeout)")
        }
        for (name, value) in [
            ("--max-connections (MAX_CONNECTIONS)", maxConnections), ("--max-connections-per-ip (MAX_CONNECTIONS_PER_IP)", maxConnectionsPerIP),
            ("--max-channels-per-connection (MAX_CHANNELS_PER_CONNECTION)", maxChannelsPerConnection),
            ("--max-away-sessions-per-ip (MAX_AWAY_SESSIONS_PER_IP)", maxAwaySessionsPerIP),
            ("--max-away-sessions-per-room (MAX_AWAY_SESSIONS_PER_ROOM)", maxAwaySessionsPerRoom),
        ] where value < 0 {
            throw ValidationError("\(name) must be 0 (unlimited) or more, got \(value)")
        }
        if replayMaxBytes < 1024 {
            throw ValidationError("--replay-max-bytes (REPLAY_MAX_BYTES) must be at least 1024, got \(replayMaxBytes)")
        }
        if maxQueuedBytes < 1024 {
            throw ValidationError("--max-queued-bytes (MAX_QUEUED_BYTES) must be at least 1024, got \(maxQueuedBytes)")
        }
        _ = try allowedOrigins()
        _ = try tlsCertificates()
    }
}
