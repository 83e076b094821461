/// An error from the Redis client. `description` is generic so that no key, value or
/// password reaches a log by accident; `debugDescription` carries the detail.
public struct RedisError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case connectionClosed, connectFailed, notConnected, timeout, serverError
            case protocolError, authenticationFailed, invalidURL, shutdown
        }
        let base: Base
        /// The connection closed (or was closed) with commands in flight.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// No TCP connection could be made.
        public static let connectFailed = Code(base: .connectFailed)
        /// The client is disconnected (reconnecting with backoff): commands fail fast.
        public static let notConnected = Code(base: .notConnected)
        /// The connect or command timeout passed.
        public static let timeout = Code(base: .timeout)
        /// The server answered with an error reply; ``RedisError/message`` is its text.
        public static let serverError = Code(base: .serverError)
        /// The server sent bytes that are not RESP, or a reply the command cannot have.
        public static let protocolError = Code(base: .protocolError)
        /// AUTH was refused (wrong user or password).
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// The `redis://` URL could not be used.
        public static let invalidURL = Code(base: .invalidURL)
        /// The client was shut down.
        public static let shutdown = Code(base: .shutdown)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// Detail: the server's error text for `.serverError`, otherwise what happened.
    public var message: String
    /// The command that failed, when there was one (its name only, never its arguments).
    public var command: String?
    /// The error this one wraps.
    public var underlying: (any Error)?
    public var file: String
    public var line: Int

    public init(
        _ code: Code,
        _ message: String,
        command: String? = nil,
        underlying: (any Error)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.command = command
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String {
        if let command { return "RedisError.\(code) (\(command))" }
        return "RedisError.\(code)"
    }

    public var debugDescription: String {
        var text = "RedisError.\(code): \(message)"
        if let command { text += " [command \(command)]" }
        if let underlying { text += " (underlying: \(String(reflecting: underlying)))" }
        return text + " at \(file):\(line)"
    }
}
