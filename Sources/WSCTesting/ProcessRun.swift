import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs an executable to its end and captures its output: for processes expected to exit
/// (a refused start, `wscenter health`), where ``ServiceProcess`` is for servers.
///
/// Not Foundation's `Process`: under a busy test run its `waitUntilExit()` once never
/// returned for a child that had exited (and its `readDataToEndOfFile()` is `try!`, which
/// crashes on `EINTR`). The child is a ``ChildProcess`` (`posix_spawn`, reaped with
/// `waitpid`), its output goes to a file, read once it has exited.
package enum ProcessRun {
    /// Runs `executable` with `arguments`, the test process's environment without `removing`
    /// and with `environment` added, on a thread of its own (never on the concurrency pool, which
    /// the other tests running meanwhile need). A process still running after `timeout` is
    /// killed, so that one that should have refused to start cannot hang the suite.
    /// - Returns: the exit status (128 + the signal for a killed one) and what it wrote to
    ///   standard error and standard output.
    package static func run(
        _ executable: String, _ arguments: [String], removing: Set<String> = [], environment: [String: String] = [:],
        timeout: Double = 30
    ) async throws -> (status: Int32, output: String) {
        try await RawHTTP.onThread {
            try runBlocking(executable, arguments, removing: removing, environment: environment, timeout: timeout)
        }
    }

    /// ``run(_:_:removing:environment:timeout:)`` on the calling thread, which it blocks.
    package static func runBlocking(
        _ executable: String, _ arguments: [String], removing: Set<String> = [], environment: [String: String] = [:],
        timeout: Double = 30
    ) throws -> (status: Int32, output: String) {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("wsctesting-run-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let child = try ChildProcess.spawn(
            executable: executable, arguments: arguments, outputPath: outputPath, removing: removing, adding: environment
        )
        let deadline = Date().addingTimeInterval(timeout)
        while child.isRunning {
            if Date() > deadline { child.send(SIGKILL) }
            usleep(2_000)
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (child.exitStatus ?? -1, output)
    }
}
