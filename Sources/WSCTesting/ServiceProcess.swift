import Foundation

/// A long-running child process (a `wscenter` role in fleet tests), its output captured in a
/// temporary file. Killed when released.
package final class ServiceProcess: @unchecked Sendable {
    private let child: ChildProcess
    private let outputPath: String

    private init(child: ChildProcess, outputPath: String) {
        self.child = child
        self.outputPath = outputPath
    }

    deinit {
        child.send(SIGKILL)
        child.waitUntilExit()
        try? FileManager.default.removeItem(atPath: outputPath)
    }

    /// Starts `executable` with `arguments`; the environment is inherited except `removing`.
    package static func start(executable: String, arguments: [String], removing: Set<String> = []) throws -> ServiceProcess {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("wsctesting-\(URL(fileURLWithPath: executable).lastPathComponent)-\(UUID().uuidString.prefix(8)).log").path
        let child = try ChildProcess.spawn(executable: executable, arguments: arguments, outputPath: outputPath, removing: removing)
        return ServiceProcess(child: child, outputPath: outputPath)
    }

    package var pid: Int32 { child.pid }
    package var isRunning: Bool { child.isRunning }

    /// Sends `signal` (SIGKILL by default) and waits until the process has exited.
    package func kill(_ signal: Int32 = SIGKILL) {
        child.send(signal)
        child.waitUntilExit()
    }

    /// Sends `signal` without waiting for the process to react.
    package func signal(_ signal: Int32) {
        child.send(signal)
    }

    /// How the process ended, e.g. "exit status 0" or "signal 9"; nil while it runs.
    package var termination: String? { child.termination }

    /// Everything the process wrote to stdout and stderr so far.
    package func output() -> String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    /// The port a `wscenter` role started with port 0 listens on, read from its log line
    /// `msg="<role> listening" host=... port=N` (ports picked in advance could be taken by
    /// another test's process in between).
    package func listeningPort(role: String, within timeout: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in output().split(separator: "\n") where line.contains("msg=\"\(role) listening\"") {
                if let field = line.split(separator: " ").first(where: { $0.hasPrefix("port=") }), let port = Int(field.dropFirst(5)) {
                    return port
                }
            }
            guard isRunning else { throw WSCTestingError(.serverExited, "the \(role) exited before listening", serverOutput: output()) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let written = output()
        throw WSCTestingError(
            .serverStartTimedOut, "the \(role) (pid \(pid), \(isRunning ? "running" : "exited")) did not log its port within \(timeout); its output: \(written.isEmpty ? "(none)" : String(written.suffix(2000)))"
        )
    }
}
