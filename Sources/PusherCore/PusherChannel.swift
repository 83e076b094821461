/// A Pusher channel name and what its prefix makes it.
package struct PusherChannel: Sendable, Hashable, CustomStringConvertible {
    package enum Kind: Sendable, Hashable {
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

    package let name: String
    package let kind: Kind
    /// `cache-` channels (also `private-cache-`, `private-encrypted-cache-`, `presence-cache-`)
    /// keep their last event and replay it on subscribe.
    package let isCache: Bool

    /// Longest channel name, in characters.
    package static let maxLength = 200

    /// The channel `name`, or nil when the name is not valid: 1–200 characters from
    /// `A-Z a-z 0-9 _ - = @ , . ;` (and the reserved `#server-to-user-` prefix).
    package init?(_ name: String) {
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

    package static let serverToUserPrefix = "#server-to-user-"

    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-", "=", "@", ",", ".", ";": true
        default: false
        }
    }

    /// Whether subscribing needs a signed `auth`.
    package var needsAuth: Bool {
        switch kind {
        case .private, .privateEncrypted, .presence: true
        case .public, .serverToUser: false
        }
    }

    package var isPresence: Bool { kind == .presence }

    /// Whether clients may send `client-` events on it (not on encrypted channels, as on Pusher).
    package var allowsClientEvents: Bool {
        switch kind {
        case .private, .presence: true
        case .public, .privateEncrypted, .serverToUser: false
        }
    }

    package var description: String { name }
}
