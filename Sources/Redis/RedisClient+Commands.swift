import NIOCore

/// A few typed commands; anything else goes through ``RedisClient/send(_:)``.
extension RedisClient {
    /// `PING`. - Returns: the server's answer (`PONG`).
    public func ping() async throws -> String {
        try await send(RedisCommand("PING")).string ?? ""
    }

    /// `PUBLISH`. - Returns: how many clients received it.
    @discardableResult
    public func publish(_ payload: ByteBuffer, to channel: String) async throws -> Int {
        try await send(RedisCommand("PUBLISH", [.string(channel), .bytes(payload)])).int ?? 0
    }

    /// `PUBLISH` of text.
    @discardableResult
    public func publish(_ payload: String, to channel: String) async throws -> Int {
        try await send(RedisCommand("PUBLISH", [.string(channel), .string(payload)])).int ?? 0
    }
}
