import ArgumentParser

/// `wscenter`: one executable, four roles. `serve` (the default) runs everything in one
/// process; `node`, `gateway` and `hooks` join a Redis-backed fleet.
@main
struct WSCenter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wscenter",
        abstract: "A distributed WebSocket hub: event API, native JSON protocol and Pusher Channels.",
        subcommands: [Serve.self, Node.self, Gateway.self, Hooks.self, Health.self],
        defaultSubcommand: Serve.self
    )
}
