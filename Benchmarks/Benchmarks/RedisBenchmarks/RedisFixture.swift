import Foundation
import Logging
import NIOCore
import NIOPosix
import Redis
import Synchronization

/// Redis clients that `run()` for the duration of one benchmark: started in its setup,
/// cancelled in its teardown.
final class RedisFixture: Sendable {
    private struct State {
        var clients: [RedisClient] = []
        var runner: Task<Void, Never>?
        var executor: EventLoopTaskExecutor?
        var tally = Tally()
    }

    /// Commands and time over the measured iterations, for an overall rate.
    private struct Tally {
        var skipped = 0
        var commands = 0
        var elapsed = Duration.zero
    }

    private let state = Mutex(State())
    /// With `true`, ``executor`` is the first client's `taskExecutor`: tasks that prefer it
    /// run on that client's event loop.
    private let onClientExecutor: Bool

    /// The benchmark's name, for the summary line ``stop()`` prints.
    private let name: String
    /// Iterations not counted in the summary (package-benchmark's warm-up).
    private let warmupIterations: Int

    init(name: String, warmupIterations: Int, onClientExecutor: Bool = false) {
        self.name = name
        self.warmupIterations = warmupIterations
        self.onClientExecutor = onClientExecutor
    }

    /// Counts one iteration's commands and time towards the overall rate ``stop()`` prints.
    func record(commands: Int, elapsed: Duration) {
        state.withLock { state in
            if state.tally.skipped < warmupIterations {
                state.tally.skipped += 1
            } else {
                state.tally.commands += commands
                state.tally.elapsed += elapsed
            }
        }
    }

    /// The running clients; empty outside setup … teardown.
    var clients: [RedisClient] { state.withLock { $0.clients } }

    /// The first client's task executor, with `onClientExecutor` only.
    var executor: EventLoopTaskExecutor? { state.withLock { $0.executor } }

    /// Connects `count` clients (one connection each) and waits until each answers `PING`.
    func start(clients count: Int) async throws {
        let url = ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379"
        let configuration = try RedisConfiguration(url: url)
        var logger = Logger(label: "redis-benchmarks")
        logger.logLevel = .warning  // keep "connected" lines out of the result tables
        let clients = (0..<count).map { _ in
            RedisClient(configuration: configuration, logger: logger)
        }
        let runner = Task {
            await withDiscardingTaskGroup { tasks in
                for client in clients {
                    tasks.addTask { await client.run() }
                }
            }
        }
        let executor = onClientExecutor ? clients.first?.taskExecutor : nil
        state.withLock {
            $0 = State(clients: clients, runner: runner, executor: executor)
        }
        for client in clients {
            try await waitUntilReady(client, url: url)
        }
    }

    /// Cancels the clients' `run()` tasks and waits for them to end.
    func stop() async {
        let stopped = state.withLock { state in
            defer { state = State() }
            return state
        }
        stopped.runner?.cancel()
        await stopped.runner?.value
        let tally = stopped.tally
        if tally.commands > 0 {
            // Total commands over total time, like redis-benchmark's "requests per second"
            // (the table's PUBLISH/s row gives per-iteration percentiles instead).
            let seconds = Double(tally.elapsed.components.seconds) + Double(tally.elapsed.components.attoseconds) / 1e18
            let line = "\(name): overall \(Int((Double(tally.commands) / seconds).rounded())) commands/s"
                + " (\(tally.commands) in \(String(format: "%.2f", seconds)) s, warm-up excluded)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    private func waitUntilReady(_ client: RedisClient, url: String) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                _ = try await client.ping()
                return
            } catch where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                throw BenchmarkSetupError(message: "no Redis at \(url) (set REDIS_URL, or run `make bench`): \(error)")
            }
        }
    }
}

struct BenchmarkSetupError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
