import Synchronization

/// A Lua script run with `EVALSHA`, loaded on first use and reloaded when the server has
/// forgotten it (`NOSCRIPT`, e.g. after a restart or `SCRIPT FLUSH`).
public final class RedisScript: Sendable {
    /// The Lua source.
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    /// The SHA1 the server reported when the script was last loaded.
    public var loadedSHA: String? { sha.withLock { $0 } }

    fileprivate func remember(_ value: String?) {
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
        let loaded = try await send(RedisCommand("SCRIPT", ["LOAD", .string(script.source)]))
        guard let sha = loaded.string else {
            throw RedisError(.protocolError, "SCRIPT LOAD did not return a SHA", command: "SCRIPT")
        }
        script.remember(sha)
        return try await send(Self.evalsha(sha, keys: keys, arguments: arguments))
    }

    private static func evalsha(_ sha: String, keys: [String], arguments: [RedisArgument]) -> RedisCommand {
        RedisCommand("EVALSHA", [.string(sha), .int(keys.count)] + keys.map { .string($0) } + arguments)
    }
}
