/// An error from a broker. `description` never contains keys, values or secrets;
/// `debugDescription` carries the detail.
public struct BrokerError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case unavailable, timeout, commandFailed, wrongType, invalidArgument, shutdown
        }
        let base: Base
        /// The backing store cannot be reached now (disconnected, reconnecting).
        public static let unavailable = Code(base: .unavailable)
        /// No answer arrived in time.
        public static let timeout = Code(base: .timeout)
        /// The backing store rejected the command.
        public static let commandFailed = Code(base: .commandFailed)
        /// The key holds a value of another type.
        public static let wrongType = Code(base: .wrongType)
        /// The caller passed something the broker cannot carry out (an empty key list, a bad TTL).
        public static let invalidArgument = Code(base: .invalidArgument)
        /// The broker has been shut down.
        public static let shutdown = Code(base: .shutdown)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// Human-readable detail; may name the command but not its arguments.
    public var message: String
    /// The error this one wraps, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "BrokerError.\(code): \(message)" }
    public var debugDescription: String {
        var text = "BrokerError.\(code): \(message)"
        if let underlying { text += " (underlying: \(String(reflecting: underlying)))" }
        return text
    }
}
