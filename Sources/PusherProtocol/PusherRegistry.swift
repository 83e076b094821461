import FleetNode
import NIOCore
import Synchronization

/// A channel of an app.
struct ChannelKey: Hashable, Sendable {
    let app: String
    let channel: String
}

/// A user of an app.
struct UserKey: Hashable, Sendable {
    let app: String
    let user: String
}

/// A member of a presence channel.
struct MemberKey: Hashable, Sendable {
    let app: String
    let channel: String
    let user: String
}

/// One node's Pusher connections, what each is subscribed to and signed in as, and the
/// indexes that delivery and the broker's copy need. Pure state, no I/O: the protocol keeps
/// it under a lock and reconciles the broker with it afterwards (``PusherWriter``).
///
/// `Endpoint` is how a connection is reached (deliveries, a kick): ``PusherEndpoint`` on a
/// node, anything in tests.
struct PusherRegistry<Endpoint> {
    struct Connection {
        let socketID: String
        let app: String
        /// Where its deliveries go, and who ends it from outside its session.
        let endpoint: Endpoint
        /// Channels it is subscribed to.
        var channels: Set<String> = []
        /// Of those, the ones whose `subscription_succeeded` is not queued yet: their events
        /// do not reach it (the subscription starts with its confirmation).
        var unconfirmed: Set<String> = []
        /// Presence channels it is a member of → its user id there.
        var presence: [String: String] = [:]
        /// The user it signed in as.
        var user: String?
        /// The user ids it watches (from its sign-in's `watchlist`).
        var watchlist: [String] = []
    }

    /// A user's local membership of a presence channel: how many local connections, and the
    /// user_info of the first.
    struct Member {
        var connections: Int
        var info: String
    }

    private(set) var connections: [String: Connection] = [:]
    /// Local subscribers of each channel.
    private(set) var subscribers: [ChannelKey: Set<String>] = [:]
    /// Local members of each presence channel.
    private(set) var members: [ChannelKey: [String: Member]] = [:]
    /// Local connections signed in as each user.
    private(set) var users: [UserKey: Set<String>] = [:]
    /// Local connections watching each user.
    private(set) var watchers: [UserKey: Set<String>] = [:]
    /// Local connections of each app.
    private(set) var appConnections: [String: Int] = [:]

    var count: Int { connections.count }

    // MARK: Connections

    /// Registers a connection; false if the socket id is taken.
    mutating func add(socketID: String, app: String, endpoint: Endpoint) -> Bool {
        guard connections[socketID] == nil else { return false }
        connections[socketID] = Connection(socketID: socketID, app: app, endpoint: endpoint)
        appConnections[app, default: 0] += 1
        return true
    }

    /// What changed when a connection went: everything the broker must be reconciled for.
    struct Removal: Equatable {
        var channels: [ChannelKey] = []
        var members: [MemberKey] = []
        var user: UserKey?
        var watched: [UserKey] = []
    }

    /// Forgets a connection, its subscriptions, memberships and sign-in.
    mutating func remove(socketID: String) -> Removal? {
        guard let connection = connections[socketID] else { return nil }
        var removal = Removal()
        for channel in connection.channels.sorted() {
            let result = unsubscribe(socketID: socketID, channel: channel)
            removal.channels.append(ChannelKey(app: connection.app, channel: channel))
            if let member = result.member { removal.members.append(member) }
        }
        if let user = connection.user {
            let key = UserKey(app: connection.app, user: user)
            users[key]?.remove(socketID)
            if users[key]?.isEmpty == true { users[key] = nil }
            removal.user = key
        }
        for watched in connection.watchlist {
            let key = UserKey(app: connection.app, user: watched)
            watchers[key]?.remove(socketID)
            if watchers[key]?.isEmpty == true { watchers[key] = nil }
            removal.watched.append(key)
        }
        connections[socketID] = nil
        appConnections[connection.app, default: 1] -= 1
        if appConnections[connection.app] == 0 { appConnections[connection.app] = nil }
        return removal
    }

    func connection(_ socketID: String) -> Connection? { connections[socketID] }

    // MARK: Subscriptions

    enum Subscription: Equatable {
        /// Subscribed now.
        case subscribed(member: MemberKey?)
        /// It already was: nothing changed.
        case alreadySubscribed
        /// No such connection.
        case unknownConnection
    }

    /// Subscribes a connection; for a presence channel, as `member` (user id, user_info JSON).
    mutating func subscribe(socketID: String, channel: String, member: (user: String, info: String)? = nil) -> Subscription {
        guard var connection = connections[socketID] else { return .unknownConnection }
        guard !connection.channels.contains(channel) else { return .alreadySubscribed }
        connection.channels.insert(channel)
        connection.unconfirmed.insert(channel)
        let key = ChannelKey(app: connection.app, channel: channel)
        subscribers[key, default: []].insert(socketID)
        var memberKey: MemberKey?
        if let member {
            connection.presence[channel] = member.user
            members[key, default: [:]][member.user, default: Member(connections: 0, info: member.info)].connections += 1
            memberKey = MemberKey(app: connection.app, channel: channel, user: member.user)
        }
        connections[socketID] = connection
        return .subscribed(member: memberKey)
    }

    struct Unsubscription: Equatable {
        var wasSubscribed: Bool
        /// The presence membership it held, if any (the broker decides if the user left).
        var member: MemberKey?
    }

    mutating func unsubscribe(socketID: String, channel: String) -> Unsubscription {
        guard var connection = connections[socketID], connection.channels.contains(channel) else {
            return Unsubscription(wasSubscribed: false)
        }
        connection.channels.remove(channel)
        connection.unconfirmed.remove(channel)
        let key = ChannelKey(app: connection.app, channel: channel)
        subscribers[key]?.remove(socketID)
        if subscribers[key]?.isEmpty == true { subscribers[key] = nil }
        var memberKey: MemberKey?
        if let user = connection.presence.removeValue(forKey: channel) {
            memberKey = MemberKey(app: connection.app, channel: channel, user: user)
            if var local = members[key]?[user] {
                local.connections -= 1
                members[key]?[user] = local.connections > 0 ? local : nil
            }
            if members[key]?.isEmpty == true { members[key] = nil }
        }
        connections[socketID] = connection
        return Unsubscription(wasSubscribed: true, member: memberKey)
    }

    /// The subscription is confirmed: from now on the channel's events reach the connection.
    /// - Returns: its endpoint, where the confirmation goes before any event; nil when it is
    ///   no longer subscribed.
    mutating func confirm(socketID: String, channel: String) -> Endpoint? {
        guard var connection = connections[socketID], connection.channels.contains(channel) else { return nil }
        connection.unconfirmed.remove(channel)
        connections[socketID] = connection
        return connection.endpoint
    }

    /// How many local connections are subscribed to the channel (confirmed or not).
    func subscriberCount(_ key: ChannelKey) -> Int { subscribers[key]?.count ?? 0 }

    /// The endpoints of the channel's confirmed local subscribers, except `excluded`.
    func endpoints(of key: ChannelKey, excluding excluded: String?) -> [Endpoint] {
        guard let sockets = subscribers[key] else { return [] }
        return sockets.compactMap { socket in
            guard socket != excluded, let connection = connections[socket], !connection.unconfirmed.contains(key.channel) else { return nil }
            return connection.endpoint
        }
    }

    /// The user_info of a user that is a local member of the presence channel, if it is one.
    func localMember(_ key: MemberKey) -> String? {
        members[ChannelKey(app: key.app, channel: key.channel)]?[key.user]?.info
    }

    // MARK: Users

    enum SignIn: Equatable {
        case signedIn(UserKey)
        /// A connection signs in once.
        case alreadySignedIn
        case unknownConnection
    }

    mutating func signIn(socketID: String, user: String, watchlist: [String]) -> SignIn {
        guard var connection = connections[socketID] else { return .unknownConnection }
        guard connection.user == nil else { return .alreadySignedIn }
        connection.user = user
        connection.watchlist = watchlist
        let key = UserKey(app: connection.app, user: user)
        users[key, default: []].insert(socketID)
        for watched in watchlist { watchers[UserKey(app: connection.app, user: watched), default: []].insert(socketID) }
        connections[socketID] = connection
        return .signedIn(key)
    }

    /// Whether some local connection is signed in as the user.
    func isSignedIn(_ key: UserKey) -> Bool { users[key] != nil }

    /// The local connections signed in as the user.
    func connections(of key: UserKey) -> [String] { users[key].map { Array($0) } ?? [] }

    /// The endpoints of the local connections signed in as the user.
    func endpoints(of key: UserKey) -> [Endpoint] { (users[key] ?? []).compactMap { connections[$0]?.endpoint } }

    /// The endpoints of the local connections watching the user.
    func watcherEndpoints(of key: UserKey) -> [Endpoint] {
        (watchers[key] ?? []).compactMap { connections[$0]?.endpoint }
    }

    /// Whether some local connection of the app watches anyone.
    func hasWatchers(app: String) -> Bool { watchers.keys.contains { $0.app == app } }

    // MARK: For a resync

    var allChannels: [ChannelKey] { Array(subscribers.keys) }
    var allMembers: [MemberKey] {
        members.flatMap { channel, users in users.keys.map { MemberKey(app: channel.app, channel: channel.channel, user: $0) } }
    }
    var allUsers: [UserKey] { Array(users.keys) }
    var apps: [String] { Array(appConnections.keys) }
}

extension PusherRegistry: Sendable where Endpoint: Sendable {}
extension PusherRegistry.Connection: Sendable where Endpoint: Sendable {}

/// How a node reaches one of its Pusher connections.
struct PusherEndpoint: Sendable {
    /// Where channel events are written, batched per event loop (``SocketDeliveries``).
    let target: HubSocket
    /// The connection's session, for a kick.
    let session: PusherSocketSession
}

/// The node's registry, shared by its connections and its writer, behind one lock.
typealias SharedRegistry = LockedRegistry<PusherEndpoint>

/// A registry behind one lock.
final class LockedRegistry<Endpoint: Sendable>: Sendable {
    private let state = Mutex(PusherRegistry<Endpoint>())

    init() {}

    func withLock<T>(_ body: (inout PusherRegistry<Endpoint>) throws -> T) rethrows -> T {
        try state.withLock { try body(&$0) }
    }
}
