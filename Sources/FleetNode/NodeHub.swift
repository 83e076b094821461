import FleetCore
import NIOCore
import NIOWebSocket
import Observability
import Synchronization
import WebSocketCore

// public (init, open, close, execute): Benchmarks/ (FleetBenchmarks) drives a hub directly, and
// the embedding example of docs/protocol.md calls node.hub.execute.
/// One node's live connections: runs the API's operations on them and delivers messages.
///
/// A shell around ``HubStateMachine``, which keeps the books without I/O. Each call takes the
/// hub's lock, gives the machine its input with the time, and performs the actions that come
/// back, in two groups.
///
/// Under the lock, the actions that append to an ordered in-memory queue: a delivery (or a
/// close) to the delivery shard of each socket's event loop (``DeliveryShard``), a binding
/// change to `onChange` (for the broker's copy, which ``BindingSync`` applies in order), a
/// recording or a discard to `onRecord` / `onDiscard` (the mailbox writer's queue). The lock
/// is what keeps their order: appends of two calls never interleave, so operations, opens and
/// closes are totally ordered, each connection gets its messages in the hub's order (its
/// greeting first), and a join and a leave from two concurrent calls reach the broker in the
/// order they happened. They are appends, not I/O: the sockets are written later on their
/// loops and the broker later by its writers. The frame of a delivered message is encoded
/// under the lock too, because the append carries it: once per message, never per recipient
/// (encoding it before the lock would be a guess: a send to a user or a group goes to every
/// node, recipients or not, and would cost each an encoding). A recording the writer refuses
/// is told back to the machine (``HubStateMachine/recordingFailed(_:)``) in the same critical
/// section, so that no claim finds the session complete in between.
///
/// After the lock, the rest: cutting off the socket of a session that resumed on another
/// connection (the machine has forgotten it, so nothing more is queued for it; what was
/// queued before went to its shard under the lock, whose write is scheduled on the loop
/// before the cut), and the process's own figures in `getStats` (its memory is read from
/// /proc).
///
/// The clock is read under the lock, so that the machine sees the time never going back
/// from one input to the next.
public final class NodeHub: Sendable {
    public typealias Recording = AwayRecording
    typealias Machine = HubStateMachine<HubSocket>

    package let nodeID: String
    private let state: Mutex<Machine>
    private let onChange: @Sendable (BindingChange) -> Void
    private let onRecord: @Sendable (Recording) -> Bool
    private let onDiscard: @Sendable (String) -> Void
    private let clock: @Sendable () -> ContinuousClock.Instant
    /// The delivery shard of each event loop that holds sockets.
    private let deliveries: SocketDeliveries
    /// Milliseconds since 1970 when the hub started.
    package let startedAt = epochMilliseconds()
    /// What ``describe(_:)`` said, for `getStats`.
    private let identity = Mutex<[String: JSONValue]>([:])
    private let messagesReceived = Atomic<Int>(0)

    /// - Parameters:
    ///   - awayTTL: how long a session whose connection ended here is recorded for.
    ///   - awayLimits: the bounds of what away sessions record.
    ///   - onChange: told of every binding change, in order, while the hub's lock is held: it
    ///     must only queue the change.
    ///   - onRecord: told of every message recorded for an away session, in order, under the
    ///     hub's lock: it must only queue it, and say whether it could (a recording it cannot
    ///     take makes the session's replay incomplete).
    ///   - onDiscard: told of every away session dropped before its time (a cap of
    ///     ``AwaySessionLimits``), under the hub's lock: its mailbox should go.
    ///   - meter: counts the messages written to the hub's sockets.
    ///   - clock: the time, for away sessions' expiry (tests pass one they move by hand).
    public init(
        nodeID: String,
        awayTTL: Duration = .seconds(300),
        awayLimits: AwaySessionLimits = AwaySessionLimits(),
        onChange: @escaping @Sendable (BindingChange) -> Void = { _ in },
        onRecord: @escaping @Sendable (Recording) -> Bool = { _ in true },
        onDiscard: @escaping @Sendable (String) -> Void = { _ in },
        meter: SocketMeter? = nil,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.nodeID = nodeID
        self.deliveries = SocketDeliveries(meter: meter)
        self.onChange = onChange
        self.onRecord = onRecord
        self.onDiscard = onDiscard
        self.clock = clock
        self.state = Mutex(Machine(nodeID: nodeID, awayTTL: awayTTL, awayLimits: awayLimits))
    }

    package var connectionCount: Int { state.withLock { $0.connectionCount } }

    /// Registers a connection on `socket` and queues `greeting` before any other message can
    /// reach it. Nil if the id is taken.
    /// - Parameter sessionToken: the connection's resumable session, if it has one: when the
    ///   connection closes, messages for it are recorded until the session resumes or expires.
    /// - Parameter address: the client's address, for the per-address cap of away sessions.
    @discardableResult
    public func open(
        _ connectionID: String, socket: ServerWebSocket, greeting: [String] = [], sessionToken: String? = nil, address: String = ""
    ) -> HubSocket? {
        let target = deliveries.target(id: connectionID, socket: socket)
        let opened = step { machine in
            guard let actions = machine.open(connectionID, socket: target, greeting: greeting, sessionToken: sessionToken, address: address) else {
                return (false, [])
            }
            return (true, actions)
        }
        return opened ? target : nil
    }

    /// Forgets a connection, its binding and its groups. If it has a session, the session
    /// turns away at this very point: from the next operation on, its messages are recorded.
    public func close(_ connectionID: String) {
        step { machine in ((), machine.close(connectionID, now: clock())) }
    }

    /// Queues `prefix`, then the messages held since the connection claimed its session, and
    /// ends the hold.
    package func releaseHold(_ connectionID: String, prefix: [String]) {
        step { machine in ((), machine.releaseHold(connectionID, prefix: prefix)) }
    }

    /// The connection will not resume a session (it did something else first): stop noting
    /// the message ids it receives.
    package func settle(_ connectionID: String) {
        state.withLock { $0.settle(connectionID) }
    }

    /// The sessions away on this node, to hand over when it stops.
    package func awaySessions() -> [HandedSession] {
        state.withLock { machine in machine.awaySessions(now: clock()) }
    }

    /// A connection's user id and groups, or nil when it is not here.
    package func binding(of connectionID: String) -> (id: String?, groups: [String])? {
        state.withLock { $0.binding(of: connectionID) }
    }

    /// Queues a text message for one connection, after everything queued for it before;
    /// false if it is not here.
    @discardableResult
    package func send(_ message: String, to connectionID: String) -> Bool {
        state.withLock { machine in
            guard let delivery = machine.send(message, to: connectionID) else { return false }
            performInOrder(delivery, on: &machine)
            return true
        }
    }

    /// Closes `socket` with `code` after everything queued for it so far (whether or not it
    /// is still in the hub: a drained connection leaves the hub before its close). Queued
    /// under the lock, like a delivery, so that it stays behind every message sent before.
    package func close(_ socket: HubSocket, code: WebSocketErrorCode, reason: String) {
        state.withLock { _ in socket.shard.enqueue(.close(socket, code, reason)) }
    }

    /// Counts a message received from a client (for `getStats`).
    package func countReceived() {
        messagesReceived.add(1, ordering: .relaxed)
    }

    /// The groups (rooms) a connection is in, sorted; empty when it is not here.
    package func groups(of connectionID: String) -> [String] {
        state.withLock { $0.groups(of: connectionID) }
    }

    /// Every connection's state, for rebuilding the broker's copy.
    package func snapshots() -> [ConnectionSnapshot] {
        state.withLock { $0.snapshots() }
    }

    /// Runs operations in order and answers each.
    public func execute(_ operations: [NodeOperation]) -> [OperationResult] {
        let results = step { machine in
            machine.execute(operations, now: clock(), epochMilliseconds: epochMilliseconds())
        }
        return addingProcessFigures(to: results, of: operations)
    }

    // MARK: Actions

    /// Gives the machine one input under the lock and performs its actions: the ordered ones
    /// there, the others once the lock is released.
    private func step<Result: Sendable>(_ input: (inout Machine) -> (Result, [Machine.Action])) -> Result {
        let (result, actions) = state.withLock { machine in
            let (result, actions) = input(&machine)
            performInOrder(actions, on: &machine)
            return (result, actions)
        }
        performAfterwards(actions)
        return result
    }

    /// Under the lock: the appends to ordered queues (see the type's comment).
    private func performInOrder(_ actions: [Machine.Action], on machine: inout Machine) {
        for action in actions { performInOrder(action, on: &machine) }
    }

    private func performInOrder(_ action: Machine.Action, on machine: inout Machine) {
        switch action {
        case .deliver(let message, let targets):
            deliveries.send(WebSocketFrames.text(message), payload: message.utf8.count, to: targets)
        case .bindingChanged(let change):
            onChange(change)
        case .record(let recording):
            if !onRecord(recording) { machine.recordingFailed(recording.token) }
        case .discardAway(let token):
            onDiscard(token)
        case .cut:
            break  // after the lock
        }
    }

    /// After the lock: what needs no order with other calls (see the type's comment).
    private func performAfterwards(_ actions: [Machine.Action]) {
        for case .cut(let target) in actions {
            let webSocket = target.socket
            webSocket.eventLoop.execute { webSocket.cut() }
        }
    }

    /// Says what `getStats` reports of the node itself beside its counters (its version, the
    /// address clients reach it at); later fields replace earlier ones of the same name.
    package func describe(_ fields: [String: JSONValue]) {
        identity.withLock { $0.merge(fields) { _, new in new } }
    }

    /// The answers to `getStats` with the process's figures added (the machine knows only
    /// its own).
    private func addingProcessFigures(to results: [OperationResult], of operations: [NodeOperation]) -> [OperationResult] {
        func isStats(_ operation: NodeOperation) -> Bool {
            if case .event(.getStats, _) = operation { true } else { false }
        }
        guard operations.contains(where: isStats) else { return results }
        let now = epochMilliseconds()
        let figures: [String: JSONValue] = [
            "messages_received": .number(String(messagesReceived.load(ordering: .relaxed))),
            "started_at": .number(String(startedAt)),
            "uptime": .number(String((now - startedAt) / 1000)),
            "memory": ProcessMemory.residentBytes().map { .number(String($0)) } ?? .null,
        ]
        let figuresAndIdentity = figures.merging(identity.withLock { $0 }) { figure, _ in figure }
        var results = results
        for (index, operation) in operations.enumerated() where isStats(operation) {
            guard case .object(.object(let fields)) = results[index] else { continue }
            results[index] = .object(.object(fields.merging(figuresAndIdentity) { own, _ in own }))
        }
        return results
    }
}
