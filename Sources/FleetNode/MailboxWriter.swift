import BrokerCore
import FleetCore
import Logging
import Synchronization

/// Writes the messages the hub records for away sessions to their mailboxes
/// (`mailbox:<token>`), in the order the hub recorded them, dropping the older entries the
/// hub says to drop (see ``AwaySessions``), and deletes the mailboxes of sessions dropped
/// early. ``flush()`` waits until everything recorded before it is written.
///
/// At most `maxPending` recordings wait: when the broker is slower than the recording, later
/// ones are refused (and their sessions' replays marked incomplete) rather than piling up.
final class MailboxWriter: Sendable {
    enum Item: Sendable {
        case record(NodeHub.Recording)
        case discard(token: String)
        case barrier(AsyncStream<Void>.Continuation)
    }

    static let defaultMaxPending = 65_536

    private let broker: any Broker
    private let keys: FleetKeys
    private let ttl: Duration
    private let maxPending: Int
    private let pending = Atomic<Int>(0)
    private let logger: Logger
    private let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    init(broker: any Broker, keys: FleetKeys, ttl: Duration, logger: Logger, maxPending: Int = MailboxWriter.defaultMaxPending) {
        self.broker = broker
        self.keys = keys
        self.ttl = ttl
        self.maxPending = max(1, maxPending)
        self.logger = logger
        (items, continuation) = AsyncStream.makeStream(of: Item.self)
    }

    /// Queues a recording; called under the hub's lock. False when too many wait already.
    func enqueue(_ recording: NodeHub.Recording) -> Bool {
        guard pending.wrappingAdd(1, ordering: .relaxed).newValue <= maxPending else {
            pending.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        continuation.yield(.record(recording))
        return true
    }

    /// Queues the deletion of a dropped session's mailbox; called under the hub's lock.
    func discard(_ token: String) { continuation.yield(.discard(token: token)) }

    /// Returns once everything queued before it has been written (or given up on), or after
    /// `timeout` (a writer that has stopped never answers).
    func flush(timeout: Duration = .seconds(5)) async {
        let (done, signal) = AsyncStream.makeStream(of: Void.self)
        continuation.yield(.barrier(signal))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in done { return } }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// The field of a mailbox whose session this node dropped before its time.
    static let droppedField = "dropped"

    static func field(_ sequence: Int) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    func run() async {
        await withTaskCancellationHandler {
            for await item in items {
                switch item {
                case .barrier(let waiter):
                    waiter.yield()
                    waiter.finish()
                case .discard(let token):
                    // What was recorded goes; a marker stays, so that a resume learns its
                    // replay was dropped rather than lost with a node.
                    let key = keys.mailbox(token)
                    _ = try? await broker.execute([
                        .delete(keys: [key]), .hashSet(key: key, fields: [Self.droppedField: "1"]), .expire(key: key, ttl: ttl),
                    ], atomically: true)
                case .record(let recording):
                    defer { pending.wrappingSubtract(1, ordering: .relaxed) }
                    let key = keys.mailbox(recording.token)
                    var commands: [BrokerCommand] = [
                        .hashSet(key: key, fields: [
                            // "<message id>\n<message>": the id lets the replay skip what the
                            // resuming connection already received.
                            Self.field(recording.sequence): (recording.messageID ?? "") + "\n" + recording.message,
                            "n": String(recording.sequence),
                        ]),
                        .expire(key: key, ttl: ttl),
                    ]
                    if !recording.dropped.isEmpty {
                        commands.append(.hashDelete(key: key, fields: recording.dropped.map(Self.field)))
                    }
                    do {
                        _ = try await broker.execute(commands, atomically: true)
                    } catch {
                        logger.warning("a message for an away session was not recorded", metadata: ["error": "\(error)"])
                    }
                }
            }
        } onCancel: {
            continuation.finish()
        }
    }
}
