import BrokerCore
import FleetCore
import Logging
import NIOCore

/// Writes the messages the hub records for away sessions to their mailboxes
/// (`mailbox:<token>`), in the order the hub recorded them, keeping the last `replayMax`.
/// ``flush()`` waits until everything recorded before it is written.
final class MailboxWriter: Sendable {
    enum Item: Sendable {
        case record(NodeHub.Recording)
        case barrier(AsyncStream<Void>.Continuation)
    }

    private let broker: any Broker
    private let keys: FleetKeys
    private let replayMax: Int
    private let ttl: Duration
    private let logger: Logger
    private let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    init(broker: any Broker, keys: FleetKeys, replayMax: Int, ttl: Duration, logger: Logger) {
        self.broker = broker
        self.keys = keys
        self.replayMax = max(1, replayMax)
        self.ttl = ttl
        self.logger = logger
        (items, continuation) = AsyncStream.makeStream(of: Item.self)
    }

    /// Queues a recording; called under the hub's lock.
    func enqueue(_ recording: NodeHub.Recording) { continuation.yield(.record(recording)) }

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
                case .record(let recording):
                    let key = keys.mailbox(recording.token)
                    var commands: [BrokerCommand] = [
                        .hashSet(key: key, fields: [
                            // "<message id>\n<message>": the id lets the replay skip what the
                            // resuming connection already received.
                            Self.field(recording.sequence): (recording.messageID ?? "") + "\n" + String(buffer: recording.message),
                            "n": String(recording.sequence),
                        ]),
                        .expire(key: key, ttl: ttl),
                    ]
                    if recording.sequence > replayMax {
                        commands.append(.hashDelete(key: key, fields: [Self.field(recording.sequence - replayMax)]))
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
