import FleetNode
import Testing

@testable import PusherProtocol

@Suite("PusherRegistry")
struct PusherRegistryTests {
    /// Stands for a connection's endpoint (its socket and session on a node).
    final class Probe: Sendable {}
    typealias Registry = PusherRegistry<Probe>

    /// A registry with the connections given as (socket id, app), each with its own endpoint.
    private func makeRegistry(_ connections: (String, String)...) -> (Registry, [String: Probe]) {
        var registry = Registry()
        var endpoints: [String: Probe] = [:]
        for (socket, app) in connections {
            let endpoint = Probe()
            let added = registry.add(socketID: socket, app: app, endpoint: endpoint)
            #expect(added)
            endpoints[socket] = endpoint
        }
        return (registry, endpoints)
    }

    /// Endpoints as identities, to compare sets of them.
    private func ids(_ endpoints: [Probe]) -> Set<ObjectIdentifier> { Set(endpoints.map(ObjectIdentifier.init)) }

    // MARK: Connections

    @Test("add registers a socket id once and counts connections per app")
    func add() {
        var registry = Registry()
        let first = Probe()
        let added = registry.add(socketID: "1.1", app: "a", endpoint: first)
        let addedAgain = registry.add(socketID: "1.1", app: "b", endpoint: Probe())
        let addedSecond = registry.add(socketID: "1.2", app: "a", endpoint: Probe())
        let addedOtherApp = registry.add(socketID: "2.1", app: "b", endpoint: Probe())
        #expect(added)
        #expect(!addedAgain)
        #expect(addedSecond)
        #expect(addedOtherApp)
        #expect(registry.count == 3)
        #expect(registry.appConnections == ["a": 2, "b": 1])
        #expect(Set(registry.apps) == ["a", "b"])
        // The refused add changed nothing: 1.1 is still app a's, with its first endpoint.
        let connection = registry.connection("1.1")
        #expect(connection?.app == "a")
        #expect(connection?.endpoint === first)
        #expect(connection?.channels.isEmpty == true)
        #expect(connection?.user == nil)
        #expect(registry.connection("9.9") == nil)
    }

    @Test("remove of an unknown socket is nil; of a bare one, an empty removal; app counts go to nil at zero")
    func removeBare() {
        var (registry, _) = makeRegistry(("1.1", "a"), ("1.2", "a"), ("2.1", "b"))
        let unknown = registry.remove(socketID: "9.9")
        #expect(unknown == nil)
        let bare = registry.remove(socketID: "2.1")
        #expect(bare == Registry.Removal())
        #expect(registry.appConnections == ["a": 2])
        #expect(registry.apps == ["a"])
        let removedAgain = registry.remove(socketID: "2.1")
        #expect(removedAgain == nil)
        _ = registry.remove(socketID: "1.1")
        #expect(registry.appConnections == ["a": 1])
        _ = registry.remove(socketID: "1.2")
        #expect(registry.appConnections.isEmpty)
        #expect(registry.count == 0)
        // The socket id is free again.
        let added = registry.add(socketID: "1.1", app: "b", endpoint: Probe())
        #expect(added)
        #expect(registry.connection("1.1")?.app == "b")
    }

    // MARK: Subscriptions

    @Test("subscribe: unknown connection, then subscribed, then already subscribed")
    func subscribeTwice() {
        var (registry, _) = makeRegistry(("1.1", "a"))
        let unknown = registry.subscribe(socketID: "9.9", channel: "c")
        #expect(unknown == .unknownConnection)
        let first = registry.subscribe(socketID: "1.1", channel: "c")
        #expect(first == .subscribed(member: nil))
        let again = registry.subscribe(socketID: "1.1", channel: "c")
        #expect(again == .alreadySubscribed)
        let againAsMember = registry.subscribe(socketID: "1.1", channel: "c", member: (user: "u", info: "{}"))
        #expect(againAsMember == .alreadySubscribed)
        #expect(registry.subscriberCount(ChannelKey(app: "a", channel: "c")) == 1)
        #expect(registry.connection("1.1")?.channels == ["c"])
        // The refused presence subscribe made no member.
        #expect(registry.localMember(MemberKey(app: "a", channel: "c", user: "u")) == nil)
        #expect(registry.allMembers.isEmpty)
        #expect(registry.allChannels == [ChannelKey(app: "a", channel: "c")])
    }

    @Test("subscriber counts are per app: the same channel name in two apps is two channels")
    func channelsPerApp() {
        var (registry, _) = makeRegistry(("1.1", "a"), ("1.2", "a"), ("2.1", "b"))
        _ = registry.subscribe(socketID: "1.1", channel: "c")
        _ = registry.subscribe(socketID: "1.2", channel: "c")
        _ = registry.subscribe(socketID: "2.1", channel: "c")
        #expect(registry.subscriberCount(ChannelKey(app: "a", channel: "c")) == 2)
        #expect(registry.subscriberCount(ChannelKey(app: "b", channel: "c")) == 1)
        #expect(registry.subscriberCount(ChannelKey(app: "c", channel: "c")) == 0)
        #expect(Set(registry.allChannels) == [ChannelKey(app: "a", channel: "c"), ChannelKey(app: "b", channel: "c")])
    }

    @Test("unsubscribe reports whether it was subscribed and the membership it held")
    func unsubscribeResults() {
        var (registry, _) = makeRegistry(("1.1", "a"))
        let unknown = registry.unsubscribe(socketID: "9.9", channel: "c")
        #expect(unknown == .init(wasSubscribed: false, member: nil))
        let notSubscribed = registry.unsubscribe(socketID: "1.1", channel: "c")
        #expect(notSubscribed == .init(wasSubscribed: false, member: nil))
        _ = registry.subscribe(socketID: "1.1", channel: "c")
        _ = registry.subscribe(socketID: "1.1", channel: "presence-p", member: (user: "u1", info: #"{"n":1}"#))
        let once = registry.unsubscribe(socketID: "1.1", channel: "c")
        #expect(once == .init(wasSubscribed: true, member: nil))
        let twice = registry.unsubscribe(socketID: "1.1", channel: "c")
        #expect(twice == .init(wasSubscribed: false, member: nil))
        let presenceUnsubscription = registry.unsubscribe(socketID: "1.1", channel: "presence-p")
        #expect(presenceUnsubscription == .init(wasSubscribed: true, member: MemberKey(app: "a", channel: "presence-p", user: "u1")))
        #expect(registry.subscriberCount(ChannelKey(app: "a", channel: "c")) == 0)
        #expect(registry.allChannels.isEmpty)
        #expect(registry.allMembers.isEmpty)
        #expect(registry.connection("1.1")?.channels.isEmpty == true)
        #expect(registry.connection("1.1")?.presence.isEmpty == true)
        // Subscribing again works as the first time.
        let resubscription = registry.subscribe(socketID: "1.1", channel: "c")
        #expect(resubscription == .subscribed(member: nil))
    }

    @Test("presence: two connections of one user make one local member, counted until the last leaves")
    func presenceRefcount() {
        var (registry, _) = makeRegistry(("1.1", "a"), ("1.2", "a"), ("1.3", "a"))
        let channel = "presence-room"
        let member = MemberKey(app: "a", channel: channel, user: "u1")
        let firstConnection = registry.subscribe(socketID: "1.1", channel: channel, member: (user: "u1", info: #"{"first":true}"#))
        #expect(firstConnection == .subscribed(member: member))
        let secondConnection = registry.subscribe(socketID: "1.2", channel: channel, member: (user: "u1", info: #"{"second":true}"#))
        #expect(secondConnection == .subscribed(member: member))
        let otherUser = registry.subscribe(socketID: "1.3", channel: channel, member: (user: "u2", info: "null"))
        #expect(otherUser == .subscribed(member: MemberKey(app: "a", channel: channel, user: "u2")))
        #expect(registry.members[ChannelKey(app: "a", channel: channel)]?["u1"]?.connections == 2)
        // The first connection's user_info is the member's.
        #expect(registry.localMember(member) == #"{"first":true}"#)
        #expect(Set(registry.allMembers) == [member, MemberKey(app: "a", channel: channel, user: "u2")])
        #expect(registry.subscriberCount(ChannelKey(app: "a", channel: channel)) == 3)

        // One connection of u1 leaves: u1 is still a member, with the same info.
        let firstLeaves = registry.unsubscribe(socketID: "1.1", channel: channel)
        #expect(firstLeaves == .init(wasSubscribed: true, member: member))
        #expect(registry.localMember(member) == #"{"first":true}"#)
        #expect(registry.members[ChannelKey(app: "a", channel: channel)]?["u1"]?.connections == 1)

        // The last one leaves: u1 is gone, u2 stays.
        let lastLeaves = registry.unsubscribe(socketID: "1.2", channel: channel)
        #expect(lastLeaves == .init(wasSubscribed: true, member: member))
        #expect(registry.localMember(member) == nil)
        #expect(registry.allMembers == [MemberKey(app: "a", channel: channel, user: "u2")])
        #expect(registry.localMember(MemberKey(app: "a", channel: channel, user: "u2")) == "null")

        _ = registry.unsubscribe(socketID: "1.3", channel: channel)
        #expect(registry.members.isEmpty)
        #expect(registry.subscribers.isEmpty)
    }

    @Test("a local member belongs to one app and one channel")
    func membersAreScoped() {
        var (registry, _) = makeRegistry(("1.1", "a"), ("2.1", "b"))
        _ = registry.subscribe(socketID: "1.1", channel: "presence-x", member: (user: "u", info: "1"))
        _ = registry.subscribe(socketID: "2.1", channel: "presence-x", member: (user: "u", info: "2"))
        #expect(registry.localMember(MemberKey(app: "a", channel: "presence-x", user: "u")) == "1")
        #expect(registry.localMember(MemberKey(app: "b", channel: "presence-x", user: "u")) == "2")
        #expect(registry.localMember(MemberKey(app: "a", channel: "presence-y", user: "u")) == nil)
        #expect(registry.allMembers.count == 2)
    }

    // MARK: Delivery

    @Test("endpoints(of:excluding:) gives the channel's subscribers of that app, less the excluded socket")
    func endpointsOfChannel() {
        var (registry, endpoints) = makeRegistry(("1.1", "a"), ("1.2", "a"), ("1.3", "a"), ("2.1", "b"))
        for socket in ["1.1", "1.2", "2.1"] { _ = registry.subscribe(socketID: socket, channel: "c") }
        _ = registry.subscribe(socketID: "1.3", channel: "other")
        let key = ChannelKey(app: "a", channel: "c")
        // A subscription gets its channel's events once confirmed (its subscription_succeeded queued).
        #expect(registry.endpoints(of: key, excluding: nil).isEmpty)
        #expect(registry.confirm(socketID: "1.1", channel: "c") != nil)
        #expect(ids(registry.endpoints(of: key, excluding: nil)) == ids([endpoints["1.1"]!]))
        for socket in ["1.2", "2.1"] { #expect(registry.confirm(socketID: socket, channel: "c") != nil) }
        _ = registry.confirm(socketID: "1.3", channel: "other")
        #expect(registry.confirm(socketID: "1.3", channel: "c") == nil, "not subscribed: nothing to confirm")
        #expect(ids(registry.endpoints(of: key, excluding: nil)) == ids([endpoints["1.1"]!, endpoints["1.2"]!]))
        #expect(registry.endpoints(of: key, excluding: nil).count == 2)
        #expect(ids(registry.endpoints(of: key, excluding: "1.2")) == ids([endpoints["1.1"]!]))
        #expect(registry.endpoints(of: key, excluding: "1.2").count == 1)
        // Excluding a socket that is not subscribed, or of another app, excludes nobody.
        #expect(registry.endpoints(of: key, excluding: "2.1").count == 2)
        #expect(registry.endpoints(of: key, excluding: "9.9").count == 2)
        #expect(ids(registry.endpoints(of: ChannelKey(app: "b", channel: "c"), excluding: nil)) == ids([endpoints["2.1"]!]))
        #expect(registry.endpoints(of: ChannelKey(app: "a", channel: "none"), excluding: nil).isEmpty)
        _ = registry.unsubscribe(socketID: "1.1", channel: "c")
        #expect(ids(registry.endpoints(of: key, excluding: nil)) == ids([endpoints["1.2"]!]))
        _ = registry.remove(socketID: "1.2")
        #expect(registry.endpoints(of: key, excluding: nil).isEmpty)
    }

    // MARK: Users

    @Test("signIn: unknown connection, then signed in, then refused a second time")
    func signInOnce() {
        var (registry, _) = makeRegistry(("1.1", "a"))
        let unknown = registry.signIn(socketID: "9.9", user: "u", watchlist: [])
        #expect(unknown == .unknownConnection)
        let first = registry.signIn(socketID: "1.1", user: "u", watchlist: ["w1"])
        #expect(first == .signedIn(UserKey(app: "a", user: "u")))
        let second = registry.signIn(socketID: "1.1", user: "v", watchlist: ["w2"])
        #expect(second == .alreadySignedIn)
        // The refused sign-in changed nothing.
        #expect(registry.connection("1.1")?.user == "u")
        #expect(registry.connection("1.1")?.watchlist == ["w1"])
        #expect(!registry.isSignedIn(UserKey(app: "a", user: "v")))
        #expect(registry.watchers[UserKey(app: "a", user: "w2")] == nil)
        #expect(registry.isSignedIn(UserKey(app: "a", user: "u")))
        #expect(!registry.isSignedIn(UserKey(app: "b", user: "u")))
        #expect(registry.allUsers == [UserKey(app: "a", user: "u")])
    }

    @Test("a user signed in on several connections: connections(of:) and endpoints(of:) list them all")
    func userConnections() {
        var (registry, _) = makeRegistry(("1.1", "a"), ("1.2", "a"), ("1.3", "a"), ("2.1", "b"))
        let user = UserKey(app: "a", user: "u")
        _ = registry.signIn(socketID: "1.1", user: "u", watchlist: [])
        _ = registry.signIn(socketID: "1.2", user: "u", watchlist: [])
        _ = registry.signIn(socketID: "1.3", user: "other", watchlist: [])
        _ = registry.signIn(socketID: "2.1", user: "u", watchlist: [])
        #expect(Set(registry.connections(of: user)) == ["1.1", "1.2"])
        #expect(registry.endpoints(of: user).count == 2)
        #expect(registry.connections(of: UserKey(app: "b", user: "u")) == ["2.1"])
        #expect(registry.connections(of: UserKey(app: "a", user: "nobody")).isEmpty)
        #expect(registry.endpoints(of: UserKey(app: "a", user: "nobody")).isEmpty)

        _ = registry.remove(socketID: "1.1")
        #expect(registry.connections(of: user) == ["1.2"])
        #expect(registry.isSignedIn(user))
        _ = registry.remove(socketID: "1.2")
        #expect(!registry.isSignedIn(user))
        #expect(registry.users[user] == nil)
    }

    @Test("endpoints(of: user) are the endpoints the connections were added with")
    func userEndpointsAreTheConnections() {
        var registry = Registry()
        let kick = Probe()
        _ = registry.add(socketID: "1.1", app: "a", endpoint: kick)
        _ = registry.signIn(socketID: "1.1", user: "u", watchlist: [])
        #expect(registry.endpoints(of: UserKey(app: "a", user: "u")).map(ObjectIdentifier.init) == [ObjectIdentifier(kick)])
    }

    @Test("watchers: the endpoints of the connections watching a user, per app")
    func watchers() {
        var (registry, endpoints) = makeRegistry(("1.1", "a"), ("1.2", "a"), ("2.1", "b"))
        #expect(!registry.hasWatchers(app: "a"))
        _ = registry.signIn(socketID: "1.1", user: "u1", watchlist: ["w", "x"])
        _ = registry.signIn(socketID: "1.2", user: "u2", watchlist: ["w"])
        _ = registry.signIn(socketID: "2.1", user: "u3", watchlist: [])
        #expect(registry.hasWatchers(app: "a"))
        #expect(!registry.hasWatchers(app: "b"))
        #expect(ids(registry.watcherEndpoints(of: UserKey(app: "a", user: "w"))) == ids([endpoints["1.1"]!, endpoints["1.2"]!]))
        #expect(ids(registry.watcherEndpoints(of: UserKey(app: "a", user: "x"))) == ids([endpoints["1.1"]!]))
        #expect(registry.watcherEndpoints(of: UserKey(app: "b", user: "w")).isEmpty)
        #expect(registry.watcherEndpoints(of: UserKey(app: "a", user: "u1")).isEmpty)

        _ = registry.remove(socketID: "1.1")
        #expect(ids(registry.watcherEndpoints(of: UserKey(app: "a", user: "w"))) == ids([endpoints["1.2"]!]))
        #expect(registry.watcherEndpoints(of: UserKey(app: "a", user: "x")).isEmpty)
        #expect(registry.watchers[UserKey(app: "a", user: "x")] == nil)
        _ = registry.remove(socketID: "1.2")
        #expect(!registry.hasWatchers(app: "a"))
        #expect(registry.watchers.isEmpty)
    }

    // MARK: Removal

    @Test("remove returns every channel, membership, the user and the watched users, and forgets them")
    func removeReturnsEverything() {
        var (registry, _) = makeRegistry(("1.1", "a"), ("1.2", "a"))
        _ = registry.subscribe(socketID: "1.1", channel: "zeta")
        _ = registry.subscribe(socketID: "1.1", channel: "presence-b", member: (user: "u", info: "{}"))
        _ = registry.subscribe(socketID: "1.1", channel: "presence-a", member: (user: "u", info: "{}"))
        _ = registry.subscribe(socketID: "1.1", channel: "private-c")
        _ = registry.signIn(socketID: "1.1", user: "u", watchlist: ["w1", "w2"])
        // Another connection shares a channel and a membership, so they stay.
        _ = registry.subscribe(socketID: "1.2", channel: "presence-a", member: (user: "u", info: "{}"))
        _ = registry.signIn(socketID: "1.2", user: "u", watchlist: ["w1"])

        let removal = registry.remove(socketID: "1.1")
        #expect(removal == Registry.Removal(
            channels: ["presence-a", "presence-b", "private-c", "zeta"].map { ChannelKey(app: "a", channel: $0) },
            members: [MemberKey(app: "a", channel: "presence-a", user: "u"), MemberKey(app: "a", channel: "presence-b", user: "u")],
            user: UserKey(app: "a", user: "u"),
            watched: [UserKey(app: "a", user: "w1"), UserKey(app: "a", user: "w2")]
        ))
        #expect(registry.connection("1.1") == nil)
        #expect(Set(registry.allChannels) == [ChannelKey(app: "a", channel: "presence-a")])
        #expect(registry.allMembers == [MemberKey(app: "a", channel: "presence-a", user: "u")])
        #expect(registry.members[ChannelKey(app: "a", channel: "presence-a")]?["u"]?.connections == 1)
        #expect(registry.connections(of: UserKey(app: "a", user: "u")) == ["1.2"])
        #expect(registry.watchers.keys.map(\.user) == ["w1"])

        // The last connection goes: nothing is left in any index.
        let last = registry.remove(socketID: "1.2")
        #expect(last?.channels == [ChannelKey(app: "a", channel: "presence-a")])
        #expect(last?.members == [MemberKey(app: "a", channel: "presence-a", user: "u")])
        #expect(last?.user == UserKey(app: "a", user: "u"))
        #expect(last?.watched == [UserKey(app: "a", user: "w1")])
        #expect(registry.subscribers.isEmpty)
        #expect(registry.members.isEmpty)
        #expect(registry.users.isEmpty)
        #expect(registry.watchers.isEmpty)
        #expect(registry.appConnections.isEmpty)
        #expect(registry.count == 0)
    }

    // MARK: SharedRegistry

    @Test("SharedRegistry hands out one registry under its lock")
    func sharedRegistry() {
        let shared = LockedRegistry<Probe>()
        let added = shared.withLock { $0.add(socketID: "1.1", app: "a", endpoint: Probe()) }
        #expect(added)
        let subscribed = shared.withLock { $0.subscribe(socketID: "1.1", channel: "c") }
        #expect(subscribed == .subscribed(member: nil))
        #expect(shared.withLock { $0.subscriberCount(ChannelKey(app: "a", channel: "c")) } == 1)
    }
}
