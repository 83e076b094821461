import FleetHTTP

// public: embedders configure their node (docs/protocol.md). `tls` and `allowedOrigins`,
// whose types are the application's own, are package.
/// How a node runs.
public struct NodeConfiguration: Sendable {
    public var nodeID: String
    /// Bind address of the WebSocket server.
    public var host: String
    /// WebSocket port; 0 picks a free one.
    public var port: Int
    /// The host clients reach this node at, as its heartbeat and `getStats` announce it; nil:
    /// ``host``, or this machine's host name when ``host`` binds every interface.
    public var advertisedHost: String?
    /// Prefix of every key and channel.
    public var prefix: String
    /// How often the node rewrites its heartbeat.
    public var heartbeatInterval: Duration = .seconds(1)
    /// How long a heartbeat keeps the node in `master_ids`.
    public var heartbeatTTL: Duration = .seconds(3)
    /// How often a node tries to clean up after dead nodes.
    public var janitorInterval: Duration = .seconds(5)
    /// Largest WebSocket message accepted from a client (bytes); a larger one closes the
    /// connection with 1009.
    public var maxMessageSize: Int = 64 * 1024
    /// How often the node pings each WebSocket client.
    public var webSocketPingInterval: Duration = .seconds(25)
    /// The longest a dead client lingers: pings go out every min(interval, timeout / 2), and a
    /// ping left unanswered for a whole period closes the connection with 1001. (Pongs are what
    /// count: the WebSocket layer does not let client messages reset the timer.)
    public var webSocketTimeout: Duration = .seconds(60)
    /// What away sessions record: messages and bytes per mailbox, sessions per address and
    /// per room (`REPLAY_MAX`, `REPLAY_MAX_BYTES`, `MAX_AWAY_SESSIONS_PER_IP`, `MAX_AWAY_SESSIONS_PER_ROOM`).
    public var awayLimits = AwaySessionLimits()
    /// Messages kept for an away session (the last ones).
    public var replayMax: Int {
        get { awayLimits.replayMax }
        set { awayLimits.replayMax = newValue }
    }
    /// How long a session waits for its client to resume after the connection ends.
    public var reconnectionTTL: Duration = .seconds(300)
    /// How long a graceful shutdown gives the WebSockets to close (clients get at most 5 s of
    /// it to answer the close, then are cut off) before the node hands its sessions over and
    /// leaves the fleet: `SHUTDOWN_TIMEOUT` less a margin for those last steps.
    public var drainTimeout: Duration = .seconds(8)
    /// How long the node waits for the other nodes when a client broadcasts to a room.
    public var callTimeout: Duration = .seconds(2)
    /// Messages queued for one slow client before it is disconnected (counted once its
    /// socket stops being writable).
    public var outboxLimit: Int = NodeConfiguration.defaultOutboxLimit
    /// Bytes queued for one slow client before it is disconnected (`MAX_QUEUED_BYTES`).
    public var outboxMaxBytes: Int = NodeConfiguration.defaultOutboxMaxBytes
    /// The default of ``outboxLimit``.
    public static let defaultOutboxLimit = 4_096
    /// The default of ``outboxMaxBytes``: 4 MiB.
    public static let defaultOutboxMaxBytes = 4 << 20
    /// How long a connection has to send each HTTP request (head and body), and may idle
    /// between requests, before it is closed; nil for no limit (`HTTP_READ_TIMEOUT`).
    public var httpReadTimeout: Duration? = .seconds(30)
    /// WebSocket connections this node holds at most; more are refused with 503 before the
    /// upgrade. 0 = unlimited (`MAX_CONNECTIONS`).
    public var maxConnections: Int = 0
    /// WebSocket connections one client address may hold on this node; more are refused with
    /// 429 before the upgrade. 0 = unlimited (`MAX_CONNECTIONS_PER_IP`).
    public var maxConnectionsPerIP: Int = 0
    /// The certificate the node serves `wss://` with (`TLS_CERT_FILE`, `TLS_KEY_FILE`); nil: plain `ws://`.
    package var tls: TLSCertificateStore?
    /// Which `Origin` a browser's upgrade may carry (`ALLOWED_ORIGINS`); others get 403.
    package var allowedOrigins: OriginPolicy = .any

    public init(nodeID: String, host: String = "0.0.0.0", port: Int = 8090, prefix: String = "wsc:") {
        self.nodeID = nodeID
        self.host = host
        self.port = port
        self.prefix = prefix
    }
}
