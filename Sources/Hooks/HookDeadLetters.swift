import BrokerCore
import FleetCore

/// Reads the dead-letter streams, for the event API's `getWebhookDeadLetters`.
package enum HookDeadLetters {
    /// Per source (`pusher:<app>`, `native`): `{"count": how many, "oldest": [up to `limit`
    /// entries, oldest first]}`, each entry `{"id", "event" (the event object as it would
    /// have been sent), "url", "error", "attempts", "failed_ms"}`.
    package static func read(broker: any Broker, keys: HookKeys, sources: [HookSource], limit: Int = 100) async throws -> [String: OperationResult] {
        var answer: [String: OperationResult] = [:]
        for source in sources {
            let key = keys.deadLetters(source)
            let values = try await broker.execute([.streamLength(key: key), .streamRange(key: key, count: limit)], atomically: false)
            guard case .int(let count) = values[0], case .entries(let entries) = values[1] else { continue }
            let oldest: [JSONValue] = entries.map { entry in
                var object: [String: JSONValue] = ["id": .string(entry.id)]
                if let text = entry.fields["e"] { object["event"] = (try? JSONValue(parsing: Array(text.utf8))) ?? .string(text) }
                for name in ["url", "error"] { if let value = entry.fields[name] { object[name] = .string(value) } }
                for name in ["attempts", "failed_ms"] { if let value = entry.fields[name], Int64(value) != nil { object[name] = .number(value) } }
                return .object(object)
            }
            answer[source.description] = .object(.object(["count": .number(String(count)), "oldest": .array(oldest)]))
        }
        return answer
    }
}
