/// An error raised by the test helpers: a throwaway `redis-server` that would not
/// start, a socket call that failed, or a test setting missing from the environment.
///
/// Unlike errors on the wire, ``description`` carries the detail (including the tail of
/// `redis-server`'s output): these errors are read by a developer in a test report, and
/// a generic message would hide the one thing they need.
package struct WSCTestingError: Error, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, as an extensible set of codes.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case environmentVariableMissing
            case executableNotFound
            case serverExited
            case serverStartTimedOut
            case systemCallFailed
        }

        let base: Base

        /// A required environment variable (such as `REDIS_URL`) is not set.
        package static let environmentVariableMissing = Code(base: .environmentVariableMissing)
        /// No `redis-server` executable was found on `PATH` or in `/usr/bin`.
        package static let executableNotFound = Code(base: .executableNotFound)
        /// `redis-server` exited before it answered `PING`.
        package static let serverExited = Code(base: .serverExited)
        /// `redis-server` did not answer `PING` within the start timeout.
        package static let serverStartTimedOut = Code(base: .serverStartTimedOut)
        /// A system call (`socket`, `bind`, `getsockname`, `open`) failed.
        package static let systemCallFailed = Code(base: .systemCallFailed)

        /// The code's name, e.g. `serverExited`.
        package var description: String { base.rawValue }
    }

    /// What went wrong.
    package var code: Code
    /// A sentence for the developer reading the test report.
    package var message: String
    /// The last lines `redis-server` wrote to stdout and stderr, when a server was involved.
    package var serverOutput: String?
    /// Where the error was raised.
    package var file: String
    /// The line where the error was raised.
    package var line: Int

    /// Creates an error.
    /// - Parameters:
    ///   - code: what went wrong.
    ///   - message: a sentence for the developer reading the test report.
    ///   - serverOutput: the tail of `redis-server`'s output, if a server was involved.
    ///   - file: where the error was raised (defaults to the caller).
    ///   - line: the line where the error was raised (defaults to the caller).
    package init(
        _ code: Code,
        _ message: String,
        serverOutput: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.serverOutput = serverOutput
        self.file = file
        self.line = line
    }

    /// The message, followed by the server's output if there is any.
    package var description: String {
        guard let serverOutput, !serverOutput.isEmpty else { return message }
        return "\(message)\n--- redis-server output (last lines) ---\n\(serverOutput)\n---"
    }

    /// The description, with the code and the place the error was raised.
    package var debugDescription: String {
        "WSCTestingError(\(code), \(file):\(line)): \(description)"
    }
}
