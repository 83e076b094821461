import FleetCore
import FleetNode
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Observability
import PusherCore
import WebSocketCore

/// One Pusher connection, driven by its socket's events on the socket's event loop: no task,
/// stream or outbox of its own. Its life (admission, waiting messages, timers, kick, drain) is
/// ``PusherSessionStateMachine``; this class performs what the machine decides, and handles
/// the messages (PusherSocketSession+Commands.swift).
///
/// Commands that need the broker (a subscription, a sign-in, a client event, the admission
/// when the app caps its connections) run in a short task; meanwhile the client's next
/// messages wait (at most ``waitingLimit``), so that replies keep the order of the commands.
/// Channel events reach the socket through ``SocketDeliveries`` (see ``PusherWriter``); a
/// client that does not read them is cut off by the socket's slow-consumer policy.
final class PusherSocketSession: WebSocketDelegate, DrainableSocket, @unchecked Sendable {
    /// Messages a client may send while one of its commands waits for the broker (as many
    /// as a connection's task could have waiting before); past it the client is closed (4301).
    static let waitingLimit = 256

    let node: NodeService
    let writer: PusherWriter
    let configuration: PusherProtocol.Configuration
    let meter: SocketMeter
    private let request: UpgradeRequest
    // Set on the loop before anyone else can see the session (the drain, the registry, a
    // command's task).
    private(set) var socket: ServerWebSocket?
    private(set) var app: PusherApp?
    private(set) var socketID = ""
    /// Whether the connection is in the registry (from `connection_established` to the close).
    private var registered = false
    // Loop only.
    var machine: PusherSessionStateMachine
    var clientEvents = RateLimiter(rate: 0, now: 0)
    var commands = RateLimiter(rate: 0, now: 0)
    private var timer: NIOScheduledCallback?
    /// Tells a stale timer callback from the current one.
    private var timerGeneration: UInt32 = 0

    init(request: UpgradeRequest, node: NodeService, writer: PusherWriter, configuration: PusherProtocol.Configuration) {
        self.request = request
        self.node = node
        self.writer = writer
        self.configuration = configuration
        self.meter = node.meter(named: "pusher")
        self.machine = PusherSessionStateMachine(configuration: .init(
            activityTimeout: .seconds(Int64(configuration.activityTimeout)),
            pongTimeout: Self.timeAmount(configuration.pongTimeout),
            signinTimeout: nil,
            waitingLimit: Self.waitingLimit
        ))
    }

    var keys: PusherKeys { writer.keys }
    var registry: SharedRegistry { writer.registry }

    // MARK: The socket's events

    func webSocketDidOpen(_ socket: ServerWebSocket) {
        self.socket = socket
        node.socketOpened(self, protocol: "pusher")
        let key = request.pathSegments.last.map(String.init) ?? ""
        guard let app = configuration.apps.app(key: key) else { return perform(machine.serverCloses(.unknownApp(key))) }
        guard app.enabled else { return perform(machine.serverCloses(.appDisabled)) }
        let version = request.query("protocol") ?? "7"
        guard let number = Int(version), (5...7).contains(number) else {
            return perform(machine.serverCloses(.unsupportedProtocol(version)))
        }
        self.app = app
        if app.requireSignin { machine.requireSignin(within: app.signinTimeout) }
        let now = Self.now()
        clientEvents = RateLimiter(rate: app.clientEventRate, now: now)
        commands = RateLimiter(rate: configuration.commandRate, now: now)
        guard app.maxConnections > 0 else { return establish() }
        // The app's connections across the fleet are in the broker: messages wait meanwhile.
        Task {
            let close: PusherClose?
            do {
                close = try await self.connectionCount(app: app) < app.maxConnections ? nil : .overQuota
            } catch {
                close = PusherClose(code: 4200, message: "Service unavailable, reconnect later")
            }
            socket.eventLoop.execute {
                if let close { return self.perform(self.machine.serverCloses(close)) }
                self.establish()
            }
        }
    }

    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {
        meter.received(bytes: message.readableBytes)
        perform(machine.received(.init(message: message, isText: isText, arrivedAt: Self.now()), now: socket.eventLoop.now))
    }

    func webSocketDidClose(_ socket: ServerWebSocket) {
        perform(machine.closed())
        if registered, let app {
            registered = false
            if let removal = registry.withLock({ $0.remove(socketID: socketID) }) {
                var items: [PusherWriter.Item] = removal.channels.map { .channel($0) } + removal.members.map { .member($0) }
                if let user = removal.user { items.append(.user(user)) }
                if !removal.watched.isEmpty { items.append(.userStatus(app.id)) }
                items.append(.connections(app.id))
                writer.enqueue(items)
            }
        }
        node.socketClosed(self, protocol: "pusher")
    }

    // MARK: From outside (any thread)

    /// On a drain the client is told, as Pusher's servers tell it, to reconnect at once
    /// (4200), then closed (1012), after what was queued for it.
    func drain() {
        guard let socket else { return }
        socket.eventLoop.execute { self.perform(self.machine.drained()) }
    }

    func cut() {
        guard let socket else { return }
        socket.eventLoop.execute { socket.cut() }
    }

    /// Ends the connection with `close` (a terminated user), after what was queued for it.
    func kick(_ close: PusherClose) {
        guard let socket else { return }
        socket.eventLoop.execute { self.perform(self.machine.serverCloses(close)) }
    }

    // MARK: Admission

    /// Registers the connection and sends `connection_established`; its timers start.
    private func establish() {
        guard let socket, let app, machine.phase == .admitting else { return }
        var socketID = ""
        var added = false
        for _ in 0..<3 where !added {
            socketID = PusherProtocol.makeSocketID()
            let endpoint = PusherEndpoint(target: writer.deliveries.target(id: socketID, socket: socket), session: self)
            added = registry.withLock { $0.add(socketID: socketID, app: app.id, endpoint: endpoint) }
        }
        guard added else { return perform(machine.serverCloses(PusherClose(code: 4200, message: "Socket id taken, reconnect"))) }
        self.socketID = socketID
        registered = true
        writer.enqueue([.connections(app.id)])
        write(PusherFrame.connectionEstablished(socketID: socketID, activityTimeout: configuration.activityTimeout))
        perform(machine.admitted(now: socket.eventLoop.now))
        handleWaiting()
    }

    /// The app's connections across the fleet: this node's from memory, the others' from the broker.
    private func connectionCount(app: PusherApp) async throws -> Int {
        let nodes = try await node.directory.liveNodes().filter { $0 != node.configuration.nodeID }
        let others = try await writer.fleetState.connectionCount(app: app.id, nodes: nodes)
        return others + registry.withLock { $0.appConnections[app.id] ?? 0 }
    }

    // MARK: Actions

    /// Does what the state machine decided. On the loop.
    func perform(_ action: PusherSessionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .handle(let inbound):
            handle(inbound)
        case .arm(let deadline):
            arm(at: deadline)
        case .ping(let deadline):
            write(PusherFrame.ping)
            arm(at: deadline)
        case .close(let close):
            write(PusherFrame.error(close.code, close.message))
            socket?.close(code: WebSocketErrorCode(codeNumber: close.code), reason: close.message)
        case .drain:
            write(PusherFrame.error(4200, "Server is restarting: reconnect"))
            socket?.close(code: NodeService.serviceRestart, reason: "service restart")
        case .cancelTimer:
            disarm()
        }
    }

    /// Runs `work` in a task while the client's next messages wait; they are handled on the
    /// loop once it ends. On the loop.
    func run(_ work: @escaping @Sendable (PusherSocketSession) async -> Void) {
        guard let socket else { return }
        machine.commandStarted()
        Task {
            await work(self)
            socket.eventLoop.execute {
                self.machine.commandEnded()
                self.handleWaiting()
            }
        }
    }

    /// Handles the messages that waited, until one starts a command again.
    private func handleWaiting() {
        while let inbound = machine.nextWaiting() {
            handle(inbound)
        }
    }

    /// Sends a frame from any thread: at once on the loop, else in a hop to it (a command's
    /// replies, in order, before the command's end is handled).
    func send(_ text: String) {
        guard let socket else { return }
        if socket.eventLoop.inEventLoop {
            write(text)
        } else {
            socket.eventLoop.execute { self.write(text) }
        }
    }

    /// Writes and flushes one text frame, unless the socket is closing. On the loop.
    private func write(_ text: String) {
        guard let socket, !socket.isClosing else { return }
        socket.send(text: text)
        meter.sent(bytes: text.utf8.count)
    }

    // MARK: Timer

    /// The connection's one timer, a scheduled callback rather than a task.
    private struct Timer: NIOScheduledCallbackHandler, Sendable {
        let session: PusherSocketSession
        let generation: UInt32

        func handleScheduledCallback(eventLoop: some EventLoop) {
            session.timerFired(generation: generation)
        }
    }

    private func arm(at deadline: NIODeadline) {
        guard let socket else { return }
        disarm()
        timer = try? socket.eventLoop.scheduleCallback(at: deadline, handler: Timer(session: self, generation: timerGeneration))
    }

    private func disarm() {
        timerGeneration &+= 1
        timer?.cancel()
        timer = nil
    }

    private func timerFired(generation: UInt32) {
        guard generation == timerGeneration, let socket else { return }
        timer = nil
        perform(machine.timerFired(now: socket.eventLoop.now))
    }

    // MARK: Time

    /// Seconds since the process started, for the rate limiters.
    static func now() -> Double {
        let elapsed = ContinuousClock.now - processStart
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// The origin of the sessions' rate-limit clock.
private let processStart = ContinuousClock.now
