/// A small program the broker runs atomically over a few keys, for updates that must decide
/// on what they read (first join, last leave) without another client in between.
///
/// A script has two bodies that must agree: `lua`, run by Redis (`EVALSHA`, falling back to
/// the source), and `body`, run by the embedded broker inside its critical section over the
/// same commands. The contract tests run every script against both brokers.
///
/// Results: a Lua integer is `.int`, a string `.string`, an array of strings `.strings`,
/// `nil`/`false` `.null`. `body` must return one of those four.
public struct BrokerScript: Sendable, Hashable, CustomStringConvertible {
    /// Runs one command inside the script (the embedded broker's side of `redis.call`).
    package typealias Run = (BrokerCommand) throws -> BrokerValue
    package typealias Body = @Sendable (_ keys: [String], _ arguments: [String], _ run: Run) throws -> BrokerValue

    /// A name for errors and logs; scripts are equal when their names are.
    public let name: String
    /// The Lua source Redis runs, with `KEYS` and `ARGV`.
    package let lua: String
    /// The same program over ``BrokerCommand``s, for the embedded broker.
    package let body: Body

    package init(name: String, lua: String, body: @escaping Body) {
        self.name = name
        self.lua = lua
        self.body = body
    }

    public var description: String { "script \(name)" }

    public static func == (lhs: BrokerScript, rhs: BrokerScript) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
