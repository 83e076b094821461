import ArgumentParser

/// `wscenter serve`: node + gateway + hooks in one process, on the embedded broker unless
/// `REDIS_URL` is set.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run node, gateway and hooks in one process (default).")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        try await RoleContext(role: "serve", options: options).start(
            requireRedis: false,
            missing: "the WebSocket node (port \(options.port)) and the HTTP gateway (port \(options.httpPort))"
        )
    }
}

/// `wscenter node`: the WebSocket server of a Redis-backed fleet.
struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a WebSocket node of a Redis-backed fleet.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        try await RoleContext(role: "node", options: options).start(
            requireRedis: true, missing: "the WebSocket node (port \(options.port))"
        )
    }
}

/// `wscenter gateway`: the stateless HTTP API of a Redis-backed fleet.
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a stateless HTTP gateway of a Redis-backed fleet.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        try await RoleContext(role: "gateway", options: options).start(
            requireRedis: true, missing: "the HTTP gateway (port \(options.httpPort))"
        )
    }
}

/// `wscenter hooks`: webhook delivery workers of a Redis-backed fleet.
struct Hooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run webhook delivery workers of a Redis-backed fleet.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        try await RoleContext(role: "hooks", options: options).start(requireRedis: true, missing: "webhook delivery")
    }
}
