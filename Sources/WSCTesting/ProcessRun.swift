import Foundation

/// Runs an executable to its end and captures its output: for processes expected to exit
/// (a refused start, `wscenter health`), where ``ServiceProcess`` is for servers.
package enum ProcessRun {
    /// Runs `executable` with `arguments`, the test process's environment without `removing`
    /// and with `environment` added, on a thread of its own (never on the concurrency pool, which
    /// the other tests running meanwhile need). A process still running after `timeout` is
    /// terminated, so that one that should have refused to start cannot hang the suite.
    /// - Parameter stdout: whether standard output is captured too (else it is discarded).
    /// - Returns: the exit status and what it wrote to standard error (and output).
    package static func run(
        _ executable: String, _ arguments: [String], removing: Set<String> = [], environment: [String: String] = [:],
        stdout: Bool = false, timeout: Double = 30
    ) async throws -> (status: Int32, output: String) {
        var variables = ProcessInfo.processInfo.environment.filter { !removing.contains($0.key) }
        variables.merge(environment) { $1 }
        return try await RawHTTP.onThread { [variables] in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = variables
            let output = Pipe()
            process.standardError = output
            process.standardOutput = stdout ? output : FileHandle.nullDevice
            try process.run()
            let watchdog = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
            defer { watchdog.cancel() }
            let data = try output.fileHandleForReading.readAllRetryingInterrupts()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }
}
