import FleetCore
import FleetNode
import Logging
import ServiceLifecycle

/// Queues a node's native events for the webhook workers: `connect`, `disconnect`, `bind`,
/// `unbind`, `join`, `leave` and `reconnect`, each with the identifiers it concerns (`_id`,
/// `id`, `groupId`, and for `reconnect` the `previous_id` and how many messages were
/// `missed`), those `WEBHOOK_EVENTS` names only. Events are queued in order as they come,
/// through a ``HookOutbox`` that spools them while Redis is unreachable; the node never waits
/// for them (its event buffer keeps the newest 10,000 if this producer falls behind).
package struct NativeHookProducer: Service {
    private let events: AsyncStream<NodeEvent>
    private let outbox: HookOutbox
    /// The event names to queue; nil for all.
    private let names: Set<String>?
    private let logger: Logger

    /// - Parameter outbox: where the events go; this producer runs it.
    package init(events: AsyncStream<NodeEvent>, outbox: HookOutbox, names: Set<String>?, logger: Logger) {
        self.events = events
        self.outbox = outbox
        self.names = names
        self.logger = logger
    }

    package func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.outbox.run() }
                for await event in events {
                    guard let hook = Self.hookEvent(event), names?.contains(hook.name) ?? true else { continue }
                    await outbox.send([hook], from: .native)
                }
                group.cancelAll()
            }
        }
    }

    /// The webhook event a node event stands for; nil for client messages.
    package static func hookEvent(_ event: NodeEvent) -> HookEvent? {
        switch event {
        case .connected(let connectionID):
            return HookEvent(name: "connect", fields: [("_id", .string(connectionID))])
        case .disconnected(let connectionID, let id):
            return HookEvent(name: "disconnect", fields: [("_id", .string(connectionID))] + (id.map { [("id", .string($0))] } ?? []))
        case .bound(let connectionID, let id):
            return HookEvent(name: "bind", fields: [("_id", .string(connectionID)), ("id", .string(id))])
        case .unbound(let connectionID, let id):
            return HookEvent(name: "unbind", fields: [("_id", .string(connectionID)), ("id", .string(id))])
        case .joined(let connectionID, let room):
            return HookEvent(name: "join", fields: [("_id", .string(connectionID)), ("groupId", .string(room))])
        case .left(let connectionID, let room):
            return HookEvent(name: "leave", fields: [("_id", .string(connectionID)), ("groupId", .string(room))])
        case .reconnected(let connectionID, let previousID, let missed):
            return HookEvent(name: "reconnect", fields: [
                ("_id", .string(connectionID)), ("previous_id", .string(previousID)), ("missed", .number(String(missed))),
            ])
        case .message:
            return nil
        }
    }
}
