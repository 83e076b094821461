import FleetCore
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
import WSCTesting
import WebSocketCore

@testable import FleetNode

/// The hub around the machine: the order it keeps across concurrent calls, the injected
/// clock, the writer's refusal fed back, the cut performed, the process's figures in
/// `getStats`.
@Suite("NodeHub as the machine's shell")
struct NodeHubShellTests {
    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(by duration: Duration) { instant.withLock { $0 += duration } }
    }

    /// What the hub handed to the mailbox writer.
    final class Mailboxes: Sendable {
        let recordings = Mutex<[AwayRecording]>([])
        let accepting = Atomic<Bool>(true)
    }

    static func hub(clock: ManualClock, mailboxes: Mailboxes) -> NodeHub {
        NodeHub(
            nodeID: "n1", awayTTL: .seconds(60),
            onRecord: { recording in
                guard mailboxes.accepting.load(ordering: .relaxed) else { return false }
                mailboxes.recordings.withLock { $0.append(recording) }
                return true
            },
            clock: { clock.now }
        )
    }

    // MARK: Order across concurrent calls

    @Test("binding changes from concurrent calls reach onChange in the order they happened: each starts where the one before ended")
    func concurrentChangesStayInOrder() async {
        let log = Mutex<[BindingChange]>([])
        let hub = NodeHub(nodeID: "n1", onChange: { change in log.withLock { $0.append(change) } })
        let (_, socket) = embeddedSocket()
        hub.open("c1", socket: socket)
        let workers = 4
        let rounds = 200
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for _ in 0..<rounds {
                        _ = hub.execute([.event(.joinGroupBy_Id, EventArguments(connectionID: "c1", groups: ["room\(worker)"]))])
                        _ = hub.execute([.event(.leaveGroupBy_Id, EventArguments(connectionID: "c1", groups: ["room\(worker)"]))])
                    }
                }
            }
        }
        let changes = log.withLock { $0 }
        #expect(changes.count == 1 + workers * rounds * 2)
        let broken = zip(changes, changes.dropFirst()).first { previous, next in previous.after != next.before }
        #expect(broken == nil, "a change out of order: \(String(describing: broken))")
        #expect(changes.last?.after == ConnectionSnapshot(connectionID: "c1", node: "n1"))
    }

    @Test("broadcasts from concurrent senders reach sockets on two loops in one order, the hub's: greetings first, each sender's in its order")
    func concurrentBroadcastsStayInOrder() async throws {
        let hub = NodeHub(nodeID: "n1")
        var sockets: [(NIOAsyncTestingEventLoop, NIOAsyncTestingChannel)] = []
        for connection in ["c1", "c2"] {
            let loop = NIOAsyncTestingEventLoop()
            let socket = ServerWebSocket(options: WebSocketOptions(pingInterval: nil), delegate: Quiet(), eventLoop: loop)
            let channel = try await NIOAsyncTestingChannel(handler: socket, loop: loop)
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9))
            hub.open(connection, socket: socket, greeting: ["hello"])
            sockets.append((loop, channel))
        }
        let senders = 4
        let messages = 500
        await withTaskGroup(of: Void.self) { group in
            for sender in 0..<senders {
                group.addTask {
                    for index in 0..<messages {
                        _ = hub.execute([.event(.broadcast, EventArguments(message: "\(sender):\(index)"))])
                    }
                }
            }
        }
        var received: [[String]] = []
        for (loop, channel) in sockets {
            await loop.run()
            var bytes: [UInt8] = []
            while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
            received.append(RawWebSocket.frames(in: bytes).filter { $0.opcode == 0x1 }.map(\.text))
            try await channel.close()
        }
        #expect(received[0] == received[1], "the two sockets got the broadcasts in different orders")
        let texts = received[0]
        #expect(texts.first == "hello")
        #expect(texts.count == 1 + senders * messages)
        var next = Array(repeating: 0, count: senders)
        for text in texts.dropFirst() {
            let parts = text.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, parts[1] == next[parts[0]] else {
                Issue.record("\(text) out of order (expected \(next))")
                return
            }
            next[parts[0]] += 1
        }
    }

    private final class Quiet: WebSocketDelegate {
        func webSocketDidOpen(_ socket: ServerWebSocket) {}
        func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {}
        func webSocketDidClose(_ socket: ServerWebSocket) {}
    }

    // MARK: Time and feedback

    @Test("away sessions expire by the injected clock")
    func expiryByInjectedClock() {
        let clock = ManualClock()
        let mailboxes = Mailboxes()
        let hub = Self.hub(clock: clock, mailboxes: mailboxes)
        let (_, socket) = embeddedSocket()
        hub.open("c1", socket: socket, sessionToken: "t")
        hub.close("c1")
        clock.advance(by: .seconds(59))
        _ = hub.execute([.event(.broadcast, EventArguments(message: "kept"))])
        #expect(hub.awaySessions().map(\.remaining) == [1_000])
        clock.advance(by: .seconds(1))
        _ = hub.execute([.event(.broadcast, EventArguments(message: "too late"))])
        #expect(mailboxes.recordings.withLock { $0.map(\.message) } == ["kept"])
        #expect(hub.awaySessions().isEmpty)
    }

    @Test("a recording the writer refuses marks the session's replay incomplete before the next call")
    func refusedRecording() {
        let mailboxes = Mailboxes()
        let hub = Self.hub(clock: ManualClock(), mailboxes: mailboxes)
        let (_, socket) = embeddedSocket()
        hub.open("c1", socket: socket, sessionToken: "t")
        hub.close("c1")
        mailboxes.accepting.store(false, ordering: .relaxed)
        _ = hub.execute([.event(.broadcast, EventArguments(message: "lost"))])
        let results = hub.execute([.claimSession(token: "t", connectionID: "c2", id: nil, groups: [])])
        #expect(results == [.claim(ClaimAnswer(session: .away(recorded: 1, complete: false, id: nil, groups: [])))])
    }

    @Test("claiming a live session cuts the old socket off after what was queued for it")
    func cut() {
        let hub = NodeHub(nodeID: "n1")
        let (oldChannel, oldSocket) = embeddedSocket()
        let (newChannel, newSocket) = embeddedSocket()
        hub.open("old", socket: oldSocket, greeting: ["hello old"], sessionToken: "t")
        hub.open("new", socket: newSocket)
        _ = hub.execute([.event(.sendMessageTo_Id, EventArguments(connectionID: "old", message: "before"))])
        _ = hub.execute([.claimSession(token: "t", connectionID: "new", id: nil, groups: [])])
        _ = hub.execute([.event(.broadcast, EventArguments(message: "after"))])
        #expect(textsWritten(on: oldChannel) == ["hello old", "before"])
        #expect(!oldChannel.isActive)
        #expect(newChannel.isActive)
        #expect(hub.connectionCount == 1)
    }

    @Test("getStats carries the machine's figures and the process's")
    func stats() {
        let hub = NodeHub(nodeID: "n1")
        hub.countReceived()
        let results = hub.execute([.event(.getConnectionCount, EventArguments()), .event(.getStats, EventArguments())])
        #expect(results.first == .int(0))
        guard case .object(.object(let fields))? = results.last else {
            Issue.record("getStats answered \(results)")
            return
        }
        #expect(Set(fields.keys) == ["connections", "rooms", "users", "messages_sent", "messages_received", "started_at", "uptime", "memory"])
        #expect(fields["messages_received"] == .number("1"))
    }
}
