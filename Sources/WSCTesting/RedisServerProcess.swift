import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway `redis-server` on 127.0.0.1 for tests that need a real Redis, in
/// particular tests that kill or restart it (reconnection, failover).
///
/// The server runs without persistence (`--save '' --appendonly no`) in its own
/// temporary directory, with its stdout and stderr in a log file there rather than in
/// the test's output. It is killed when this object is deinitialised, so a test cannot
/// leak a `redis-server`.
///
/// ```swift
/// let redis = try await RedisServerProcess.start()
/// defer { redis.kill() }
/// // connect to redis.url ... then:
/// try await redis.restart()
/// ```
///
/// `kill()`, `stop()` and `restart()` must not be called concurrently with each other.
package final class RedisServerProcess: @unchecked Sendable {
    /// The port the server listens on, on 127.0.0.1. It stays the same across ``restart()``.
    package let port: Int
    /// The arguments given to ``start(port:extraArguments:)`` after the defaults.
    package let extraArguments: [String]
    /// The URL to connect to: `redis://127.0.0.1:PORT`.
    package var url: String { "redis://127.0.0.1:\(port)" }

    let executable: URL
    let directory: URL
    var logFile: URL { directory.appendingPathComponent("redis-server.log") }

    private let lock = NSLock()
    private var process: ChildProcess?  // guarded by `lock`

    /// Starts a `redis-server` and returns once it answers `PING`.
    ///
    /// The server is started with `--port P --bind 127.0.0.1 --save '' --appendonly no
    /// --daemonize no --protected-mode no --dir <temporary directory>`, then
    /// `extraArguments` (which may override those, e.g. `["--requirepass", "secret"]`).
    /// It counts as up when it answers `+PONG`, or `-NOAUTH` if it requires a password.
    ///
    /// - Parameters:
    ///   - port: the port to listen on; nil picks a free one (and picks another if the
    ///     first is taken before the server binds it). A given port that is busy is
    ///     retried for a few seconds.
    ///   - extraArguments: more `redis-server` arguments, e.g. `["--requirepass", "pw"]`.
    /// - Returns: the running server.
    /// - Throws: ``WSCTestingError`` if `redis-server` is not installed, exits, or does not
    ///   answer within 10 seconds; the error includes the tail of the server's output.
    package static func start(port: Int? = nil, extraArguments: [String] = []) async throws -> RedisServerProcess {
        let executable = try findExecutable()
        var attempt = 0
        while true {
            attempt += 1
            let chosenPort = try port ?? freeTCPPort()
            let server = try RedisServerProcess(executable: executable, port: chosenPort, extraArguments: extraArguments)
            do {
                try await server.launch(retryingBusyPortFor: port == nil ? .zero : busyPortRetryWindow)
                return server
            } catch let error as WSCTestingError where port == nil && attempt < 5 && error.isAddressInUse {
                continue  // someone took the free port first: pick another one
            }
        }
    }

    init(executable: URL, port: Int, extraArguments: [String]) throws {
        self.executable = executable
        self.port = port
        self.extraArguments = extraArguments
        self.directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("wsctesting-redis-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The process id of the running server, or nil when it is not running.
    package var processIdentifier: Int32? {
        lock.withLock { process.flatMap { $0.isRunning ? $0.pid : nil } }
    }

    /// Whether the server process is running.
    package var isRunning: Bool { processIdentifier != nil }

    /// The last lines the server wrote to stdout and stderr since it was first started.
    /// - Parameter maxLines: how many lines to return at most.
    /// - Returns: the lines, joined with newlines.
    package func outputTail(maxLines: Int = 40) -> String {
        Self.tail(of: logFile, from: 0, maxLines: maxLines)
    }

    /// Kills the server with SIGKILL (no shutdown, clients see the connection drop) and
    /// waits until it has exited. Does nothing if it is not running.
    package func kill() {
        guard let process = takeProcess() else { return }
        process.send(SIGKILL)
        process.waitUntilExit()
    }

    /// Stops the server with SIGTERM and waits until it has exited (SIGKILL after
    /// 10 seconds, or at once if the task is cancelled). Does nothing if it is not running.
    package func stop() async {
        guard let process = takeProcess() else { return }
        process.send(SIGTERM)
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning {
            if Task.isCancelled || ContinuousClock.now >= deadline {
                process.send(SIGKILL)
                process.waitUntilExit()
                return
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the server (SIGTERM), then starts it again on the same port with the same
    /// arguments, returning once it answers `PING`. The data is gone: nothing is persisted.
    ///
    /// If the port is briefly busy, starting is retried for a few seconds.
    /// - Throws: ``WSCTestingError`` if the server does not come back.
    package func restart() async throws {
        await stop()
        try await launch(retryingBusyPortFor: Self.busyPortRetryWindow)
    }

    /// Sets the running process (nil to forget it); used by the launch code.
    func setProcess(_ process: ChildProcess?) {
        lock.withLock { self.process = process }
    }

    private func takeProcess() -> ChildProcess? {
        lock.withLock {
            defer { process = nil }
            return process
        }
    }

    static let busyPortRetryWindow = Duration.seconds(3)
    static let startTimeout = Duration.seconds(10)
}
