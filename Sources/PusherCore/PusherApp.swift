import Foundation

/// One Pusher application (tenant): its credentials and limits. Apps are isolated: their
/// channels, presence members, users and counts never mix.
package struct PusherApp: Sendable, Hashable, Codable {
    /// The app id; the official server SDKs need it numeric (it is kept as text).
    package var id: String
    /// The public key clients connect with (`/app/{key}`).
    package var key: String
    /// The secret that signs channel auth, user sign-in and REST requests.
    package var secret: String
    /// Whether `client-` events from clients are relayed.
    package var enableClientMessages: Bool = true
    /// Connections the app may hold across the fleet; 0 = unlimited.
    package var maxConnections: Int = 0
    /// Members a presence channel may hold.
    package var maxPresenceMembers: Int = 100
    /// Largest event payload (the `data` of a triggered or client event), in KiB.
    package var maxEventPayloadKB: Int = 10
    /// Whether subscribers get `pusher_internal:subscription_count` (throttled, fleet-wide).
    package var enableSubscriptionCount: Bool = false
    /// Whether a connection must sign in (`pusher:signin`) within `signinTimeout` seconds.
    package var requireSignin: Bool = false
    /// Seconds a connection has to sign in when `requireSignin` is set.
    package var signinTimeout: Double = 30
    /// Client events a connection may send per second (excess: `pusher:error` 4301).
    package var clientEventRate: Double = 10
    /// Whether clients may connect and the REST API answers (403 / close 4003 otherwise).
    package var enabled: Bool = true
    /// Where the app's webhooks go (Soketi's shape): delivered by the hooks workers.
    package var webhooks: [Webhook] = []

    package struct Webhook: Sendable, Hashable, Codable {
        package var url: String
        /// The events it receives; nil for all.
        package var eventTypes: [String]?
        /// Only events on channels whose names match.
        package var filter: Filter?
        /// More headers on each request.
        package var headers: [String: String]?

        package struct Filter: Sendable, Hashable, Codable {
            package var channelNameStartsWith: String?
            package var channelNameEndsWith: String?

            enum CodingKeys: String, CodingKey {
                case channelNameStartsWith = "channel_name_starts_with"
                case channelNameEndsWith = "channel_name_ends_with"
            }
        }

        package init(url: String, eventTypes: [String]? = nil, filter: Filter? = nil, headers: [String: String]? = nil) {
            self.url = url
            self.eventTypes = eventTypes
            self.filter = filter
            self.headers = headers
        }

        enum CodingKeys: String, CodingKey {
            case url, filter, headers
            case eventTypes = "event_types"
        }
    }

    package init(id: String, key: String, secret: String) {
        self.id = id
        self.key = key
        self.secret = secret
    }

    /// The largest `max_event_payload_kb` accepted (64 MiB).
    package static let maxEventPayloadLimitKB = 65_536

    /// The largest payload in bytes.
    package var maxEventPayloadBytes: Int { maxEventPayloadKB * 1024 }

    enum CodingKeys: String, CodingKey {
        case id, key, secret, enabled, webhooks
        case enableClientMessages = "enable_client_messages"
        case maxConnections = "max_connections"
        case maxPresenceMembers = "max_presence_members"
        case maxEventPayloadKB = "max_event_payload_kb"
        case enableSubscriptionCount = "enable_subscription_count"
        case requireSignin = "require_signin"
        case signinTimeout = "signin_timeout"
        case clientEventRate = "client_event_rate"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // An id may be written as a number or a string.
        if let number = try? container.decode(Int.self, forKey: .id) {
            id = String(number)
        } else {
            id = try container.decode(String.self, forKey: .id)
        }
        key = try container.decode(String.self, forKey: .key)
        secret = try container.decode(String.self, forKey: .secret)
        enableClientMessages = try container.decodeIfPresent(Bool.self, forKey: .enableClientMessages) ?? true
        maxConnections = try container.decodeIfPresent(Int.self, forKey: .maxConnections) ?? 0
        maxPresenceMembers = try container.decodeIfPresent(Int.self, forKey: .maxPresenceMembers) ?? 100
        maxEventPayloadKB = try container.decodeIfPresent(Int.self, forKey: .maxEventPayloadKB) ?? 10
        enableSubscriptionCount = try container.decodeIfPresent(Bool.self, forKey: .enableSubscriptionCount) ?? false
        requireSignin = try container.decodeIfPresent(Bool.self, forKey: .requireSignin) ?? false
        signinTimeout = try container.decodeIfPresent(Double.self, forKey: .signinTimeout) ?? 30
        clientEventRate = try container.decodeIfPresent(Double.self, forKey: .clientEventRate) ?? 10
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        webhooks = try container.decodeIfPresent([Webhook].self, forKey: .webhooks) ?? []
    }

    /// What is wrong with the app's settings, if anything.
    package func problems() -> [String] {
        var problems: [String] = []
        if id.isEmpty || id.contains(where: { !$0.isLetter && !$0.isNumber && $0 != "-" && $0 != "_" }) {
            problems.append("app id \"\(id)\" must be letters, digits, - or _")
        }
        if key.isEmpty || key.contains(where: { $0 == "/" || $0 == "?" || $0 == ":" || $0.isWhitespace }) {
            problems.append("app \(id): key must be non-empty, without /, ?, : or spaces")
        }
        if secret.isEmpty { problems.append("app \(id): secret must not be empty") }
        if maxConnections < 0 || maxPresenceMembers < 1 || !(1...Self.maxEventPayloadLimitKB).contains(maxEventPayloadKB) {
            problems.append(
                "app \(id): max_connections must be ≥ 0, max_presence_members ≥ 1 and max_event_payload_kb 1 to \(Self.maxEventPayloadLimitKB)"
            )
        }
        if !(signinTimeout > 0) || clientEventRate < 0 {
            problems.append("app \(id): signin_timeout must be > 0 and client_event_rate ≥ 0")
        }
        return problems
    }
}

/// The apps a node or gateway serves, found by id or by key.
package struct PusherApps: Sendable, Hashable {
    package let all: [PusherApp]
    private let byID: [String: PusherApp]
    private let byKey: [String: PusherApp]

    /// - Throws: ``PusherAppsError`` when an app is invalid or an id or key is used twice.
    package init(_ apps: [PusherApp]) throws {
        var problems = apps.flatMap { $0.problems() }
        var byID: [String: PusherApp] = [:]
        var byKey: [String: PusherApp] = [:]
        for app in apps {
            if byID.updateValue(app, forKey: app.id) != nil { problems.append("app id \(app.id) is used twice") }
            if byKey.updateValue(app, forKey: app.key) != nil { problems.append("app key \(app.key) is used twice") }
        }
        guard problems.isEmpty else { throw PusherAppsError(problems.joined(separator: "; ")) }
        self.all = apps
        self.byID = byID
        self.byKey = byKey
    }

    package func app(id: String) -> PusherApp? { byID[id] }
    package func app(key: String) -> PusherApp? { byKey[key] }

    /// The default app (from `APP_ID`, `APP_KEY`, `APP_SECRET`, `APP_ENABLE_CLIENT_MESSAGES`)
    /// followed by the apps of `APPS_FILE`, if given; an app of the file with the default
    /// app's id replaces it.
    /// - Throws: ``PusherAppsError`` when the file cannot be read or parsed, or an app is invalid.
    package static func load(defaultApp: PusherApp, file: String?) throws -> PusherApps {
        guard let file else { return try PusherApps([defaultApp]) }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw PusherAppsError("APPS_FILE \(file) cannot be read: \(error.localizedDescription)")
        }
        return try PusherApps(defaultApp: defaultApp, fileContents: data, name: file)
    }

    /// As ``load(defaultApp:file:)``, from the file's contents.
    package init(defaultApp: PusherApp, fileContents data: Data, name: String = "APPS_FILE") throws {
        struct Wrapped: Decodable { let apps: [PusherApp] }
        let listed: [PusherApp]
        do {
            // `{"apps": [...]}` or a bare list, told apart by the first character.
            let first = data.first { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }
            if first == UInt8(ascii: "{") {
                listed = try JSONDecoder().decode(Wrapped.self, from: data).apps
            } else {
                listed = try JSONDecoder().decode([PusherApp].self, from: data)
            }
        } catch {
            throw PusherAppsError("\(name) is not a JSON list of apps (id, key, secret, options): \(Self.describe(error))")
        }
        var apps = listed
        if !apps.contains(where: { $0.id == defaultApp.id }) { apps.insert(defaultApp, at: 0) }
        try self.init(apps)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \(key.stringValue) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            return "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            return "\(error)"
        }
    }
}

package struct PusherAppsError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
