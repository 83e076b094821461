import Synchronization

/// A Lua script run with `EVALSHA`; on first use, and when the server has forgotten it
/// (`NOSCRIPT`, e.g. after a restart or `SCRIPT FLUSH`), run with `EVAL` and loaded again.
public final class RedisScript: Sendable {
    /// The Lua source.
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    /// The SHA1 the server reported when the script was last loaded.
    public var loadedSHA: String? { sha.withLock { $0 } }

    func remember(_ value: String?) {
        sha.withLock { $0 = value }
    }
}

extension RedisClient {
    /// Runs `script` with `keys` and `arguments`.
    /// - Throws: ``RedisError`` `.serverError` with Redis's message when the script fails.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [String] = [], arguments: [RedisArgument] = []) async throws -> RESPValue {
        if let sha = script.loadedSHA {
            do {
                return try await send(Self.evalsha(sha, keys: keys, arguments: arguments))
            } catch let error as RedisError where error.code == .serverError && error.message.hasPrefix("NOSCRIPT") {
                script.remember(nil)
            }
        }
        // First use, or the server lost it: EVAL runs the source (it cannot answer NOSCRIPT,
        // even if another client flushes the scripts meanwhile), and SCRIPT LOAD, in the same
        // write, gives the SHA for next time.
        let replies = try await pipeline([
            RedisCommand("EVAL", [.string(script.source), .int(keys.count)] + keys.map { .string($0) } + arguments),
            RedisCommand("SCRIPT", ["LOAD", .string(script.source)]),
        ])
        guard replies.count == 2 else {
            throw RedisError(.protocolError, "expected 2 replies to EVAL and SCRIPT LOAD, got \(replies.count)", command: "EVAL")
        }
        if let sha = replies[1].string { script.remember(sha) }
        if let message = replies[0].errorMessage {
            throw RedisError(.serverError, message, command: "EVAL")
        }
        return replies[0]
    }

    private static func evalsha(_ sha: String, keys: [String], arguments: [RedisArgument]) -> RedisCommand {
        RedisCommand("EVALSHA", [.string(sha), .int(keys.count)] + keys.map { .string($0) } + arguments)
    }
}
