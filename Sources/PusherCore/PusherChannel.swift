/// A Pusher channel name and what its prefix makes it.
public struct PusherChannel: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Anyone may subscribe.
        case `public`
        /// `private-`: a signed `auth` over `socket_id:channel`.
        case `private`
        /// `private-encrypted-`: private, and the payloads are encrypted by the clients and
        /// the server SDKs; the server relays them unread.
        case privateEncrypted
        /// `presence-`: private, with members (`channel_data` in the signature).
        case presence
        /// `#server-to-user-{id}`: events for one signed-in user.
        case serverToUser(userID: String)
    }

    public let name: String
    public let kind: Kind
    /// `cache-` channels (also `private-cache-`, `private-encrypted-cache-`, `presence-cache-`)
    /// keep their last event and replay it on subscribe.
    public let isCache: Bool

    /// Longest channel name, in characters.
    public static let maxLength = 200

    /// The channel `name`, or nil when the name is not valid: 1–200 characters from
    /// `A-Z a-z 0-9 _ - = @ , . ;` (and the reserved `#server-to-user-` prefix).
    public init?(_ name: String) {
        guard !name.isEmpty, name.count <= Self.maxLength else { return nil }
        self.name = name
        if name.hasPrefix(Self.serverToUserPrefix) {
            let user = String(name.dropFirst(Self.serverToUserPrefix.count))
            guard !user.isEmpty, user.unicodeScalars.allSatisfy(Self.isAllowed) else { return nil }
            kind = .serverToUser(userID: user)
            isCache = false
            return
        }
        guard name.unicodeScalars.allSatisfy(Self.isAllowed) else { return nil }
        var rest = Substring(name)
        if rest.hasPrefix("private-encrypted-") {
            kind = .privateEncrypted
            rest = rest.dropFirst("private-encrypted-".count)
        } else if rest.hasPrefix("private-") {
            kind = .private
            rest = rest.dropFirst("private-".count)
        } else if rest.hasPrefix("presence-") {
            kind = .presence
            rest = rest.dropFirst("presence-".count)
        } else {
            kind = .public
        }
        isCache = rest.hasPrefix("cache-")
    }

    public static let serverToUserPrefix = "#server-to-user-"

    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-", "=", "@", ",", ".", ";": true
        default: false
        }
    }

    /// Whether subscribing needs a signed `auth`.
    public var needsAuth: Bool {
        switch kind {
        case .private, .privateEncrypted, .presence: true
        case .public, .serverToUser: false
        }
    }

    public var isPresence: Bool { kind == .presence }

    /// Whether clients may send `client-` events on it (not on encrypted channels, as on Pusher).
    public var allowsClientEvents: Bool {
        switch kind {
        case .private, .presence: true
        case .public, .privateEncrypted, .serverToUser: false
        }
    }

    public var description: String { name }
}
