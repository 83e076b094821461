import ArgumentParser

/// What the four subcommands share: their options, whether they need Redis, and which
/// services they run. Each role only states those; `run()` is the same for all.
protocol Role: AsyncParsableCommand {
    var options: CommonOptions { get }
    /// The subcommand's name in logs and errors.
    static var roleName: String { get }
    /// Whether the role only makes sense in a Redis-backed fleet.
    static var requiresRedis: Bool { get }
    /// The services this role runs on its broker.
    static var services: [RoleService] { get }
}

extension Role {
    func run() async throws {
        try await RoleContext(role: Self.roleName, options: options)
            .start(requireRedis: Self.requiresRedis, services: Self.services)
    }
}

/// `wscenter serve`: node + gateway + hooks (when webhooks are configured) in one process, on
/// the embedded broker unless `REDIS_URL` is set.
struct Serve: Role {
    static let configuration = CommandConfiguration(abstract: "Run node, gateway and hooks in one process (default).")
    static let roleName = "serve"
    static let requiresRedis = false
    static let services: [RoleService] = [.node, .gateway, .hooks]
    @OptionGroup var options: CommonOptions
}

/// `wscenter node`: the WebSocket server of a Redis-backed fleet.
struct Node: Role {
    static let configuration = CommandConfiguration(abstract: "Run a WebSocket node of a Redis-backed fleet.")
    static let roleName = "node"
    static let requiresRedis = true
    static let services: [RoleService] = [.node]
    @OptionGroup var options: CommonOptions
}

/// `wscenter gateway`: the stateless HTTP API of a Redis-backed fleet.
struct Gateway: Role {
    static let configuration = CommandConfiguration(abstract: "Run a stateless HTTP gateway of a Redis-backed fleet.")
    static let roleName = "gateway"
    static let requiresRedis = true
    static let services: [RoleService] = [.gateway]
    @OptionGroup var options: CommonOptions
}

/// `wscenter hooks`: webhook delivery workers of a Redis-backed fleet.
struct Hooks: Role {
    static let configuration = CommandConfiguration(abstract: "Run webhook delivery workers of a Redis-backed fleet.")
    static let roleName = "hooks"
    static let requiresRedis = true
    static let services: [RoleService] = [.hooks]
    @OptionGroup var options: CommonOptions
}
