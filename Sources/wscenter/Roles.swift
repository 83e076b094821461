import ArgumentParser

/// What the four subcommands share: their options, whether they need Redis, and what of
/// them is not built yet. Each role only states those; `run()` is the same for all.
protocol Role: AsyncParsableCommand {
    var options: CommonOptions { get }
    /// The subcommand's name in logs and errors.
    static var roleName: String { get }
    /// Whether the role only makes sense in a Redis-backed fleet.
    static var requiresRedis: Bool { get }
    /// The servers of this role that do not exist yet.
    var missing: String { get }
}

extension Role {
    func run() async throws {
        try await RoleContext(role: Self.roleName, options: options)
            .start(requireRedis: Self.requiresRedis, missing: missing)
    }
}

/// `wscenter serve`: node + gateway + hooks in one process, on the embedded broker unless
/// `REDIS_URL` is set.
struct Serve: Role {
    static let configuration = CommandConfiguration(abstract: "Run node, gateway and hooks in one process (default).")
    static let roleName = "serve"
    static let requiresRedis = false
    @OptionGroup var options: CommonOptions
    var missing: String {
        "the WebSocket node (port \(options.port)) and the HTTP gateway (port \(options.httpPort))"
    }
}

/// `wscenter node`: the WebSocket server of a Redis-backed fleet.
struct Node: Role {
    static let configuration = CommandConfiguration(abstract: "Run a WebSocket node of a Redis-backed fleet.")
    static let roleName = "node"
    static let requiresRedis = true
    @OptionGroup var options: CommonOptions
    var missing: String { "the WebSocket node (port \(options.port))" }
}

/// `wscenter gateway`: the stateless HTTP API of a Redis-backed fleet.
struct Gateway: Role {
    static let configuration = CommandConfiguration(abstract: "Run a stateless HTTP gateway of a Redis-backed fleet.")
    static let roleName = "gateway"
    static let requiresRedis = true
    @OptionGroup var options: CommonOptions
    var missing: String { "the HTTP gateway (port \(options.httpPort))" }
}

/// `wscenter hooks`: webhook delivery workers of a Redis-backed fleet.
struct Hooks: Role {
    static let configuration = CommandConfiguration(abstract: "Run webhook delivery workers of a Redis-backed fleet.")
    static let roleName = "hooks"
    static let requiresRedis = true
    @OptionGroup var options: CommonOptions
    var missing: String { "webhook delivery" }
}
