/// Where and how to connect to Redis.
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// ACL user for `AUTH user password`; `nil` with a password sends `AUTH password`.
    public var username: String?
    public var password: String?
    /// Database index selected after connecting (`SELECT`); 0 sends nothing.
    public var database: Int
    /// How long a TCP connect plus handshake (AUTH, SELECT) may take.
    public var connectTimeout: Duration
    /// How long a command may wait for its reply. A timeout closes the connection
    /// (its replies could no longer be matched to commands) and the client reconnects.
    public var commandTimeout: Duration
    /// Backoff between reconnection attempts: the first delay is at most `base`,
    /// each further one doubles up to `cap`; the actual delay is drawn at random below it.
    public var reconnectBase: Duration
    public var reconnectCap: Duration
    /// How often an idle-looking connection is checked with `PING` (`nil`: never). A check
    /// that gets no answer within `commandTimeout` closes the connection, so a half-open TCP
    /// connection (a vanished server, a network partition) is replaced instead of waited on.
    public var healthCheckInterval: Duration?
    /// Sent as `CLIENT SETNAME` so the connection is recognisable in `CLIENT LIST`.
    public var clientName: String?
    /// TLS to the server (`rediss://`); nil = plain TCP.
    public var tls: RedisTLS?

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(3),
        commandTimeout: Duration = .seconds(5),
        reconnectBase: Duration = .milliseconds(50),
        reconnectCap: Duration = .seconds(3),
        healthCheckInterval: Duration? = .seconds(5),
        clientName: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectBase = reconnectBase
        self.reconnectCap = reconnectCap
        self.healthCheckInterval = healthCheckInterval
        self.clientName = clientName
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`. IPv6 hosts go in brackets.
    /// User and password may be percent-encoded.
    /// - Throws: ``RedisError`` with code `.invalidURL` naming what is wrong (never the password).
    public init(url: String) throws {
        self.init()
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else {
            throw RedisError(.invalidURL, "expected redis://host:port or rediss://host:port, got no scheme")
        }
        let scheme = url[..<colon].lowercased()
        switch scheme {
        case "redis": tls = nil
        case "rediss": tls = RedisTLS()
        default: throw RedisError(.invalidURL, "unsupported scheme '\(scheme)' (redis:// or rediss:// for TLS)")
        }
        var rest = url[url.index(colon, offsetBy: 3)...]
        if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            rest = rest[..<query]
        }
        var authority = rest
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userInfo[..<colon])
                username = user.isEmpty ? nil : user
                password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
            } else if !userInfo.isEmpty {
                // `redis://secret@host` is commonly meant as a password.
                password = try Self.percentDecoded(userInfo)
            }
        }
        var hostPart = authority
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw RedisError(.invalidURL, "unterminated IPv6 address")
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let afterBracket = authority[authority.index(after: close)...]
            if afterBracket.hasPrefix(":") { portPart = afterBracket.dropFirst() }
            else if !afterBracket.isEmpty { throw RedisError(.invalidURL, "unexpected text after IPv6 address") }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        if !hostPart.isEmpty { host = String(hostPart) }
        if let portPart {
            guard let value = Int(portPart), (1...65535).contains(value) else {
                throw RedisError(.invalidURL, "port must be 1-65535, got '\(portPart)'")
            }
            port = value
        }
        let db = path.split(separator: "/").first ?? ""
        if !db.isEmpty {
            guard let value = Int(db), value >= 0 else {
                throw RedisError(.invalidURL, "database must be a non-negative number, got '\(db)'")
            }
            database = value
        }
    }

    private static func percentDecoded(_ text: Substring) throws -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw RedisError(.invalidURL, "bad percent-encoding in user info")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
