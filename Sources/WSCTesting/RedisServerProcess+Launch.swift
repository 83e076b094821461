import Foundation

extension RedisServerProcess {
    /// Launches `redis-server` on ``port`` and waits until it answers `PING`. If it exits
    /// because the port is in use, tries again until `retryWindow` has passed.
    func launch(retryingBusyPortFor retryWindow: Duration) async throws {
        let retryDeadline = ContinuousClock.now + retryWindow
        while true {
            do {
                try await launchOnce()
                return
            } catch let error as WSCTestingError where error.isAddressInUse && ContinuousClock.now < retryDeadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private func launchOnce() async throws {
        let logOffset = Self.size(of: logFile)
        let process = try spawn()
        setProcess(process)
        let deadline = ContinuousClock.now + Self.startTimeout
        do {
            while true {
                switch RedisProbe.ask(port: port) {
                case .pong(let processID) where processID == nil || processID == process.pid:
                    if process.isRunning { return }
                case .authenticationRequired:
                    if process.isRunning { return }
                default:
                    // Nothing there yet, still loading, or another server on this port (ours
                    // will then exit with "Address already in use").
                    break
                }
                if !process.isRunning {
                    setProcess(nil)
                    throw WSCTestingError(
                        .serverExited,
                        "redis-server on port \(port) exited (\(process.termination ?? "unknown status")) before answering PING",
                        serverOutput: Self.tail(of: logFile, from: logOffset)
                    )
                }
                if ContinuousClock.now >= deadline {
                    kill()
                    throw WSCTestingError(
                        .serverStartTimedOut,
                        "redis-server on port \(port) did not answer PING within \(Self.startTimeout)",
                        serverOutput: Self.tail(of: logFile, from: logOffset)
                    )
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        } catch let error as WSCTestingError {
            throw error
        } catch {
            kill()  // cancelled while waiting
            throw error
        }
    }

    /// Starts `redis-server` with its output appended to ``logFile``.
    private func spawn() throws -> ChildProcess {
        let arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--protected-mode", "no",
            "--dir", directory.path,
        ] + extraArguments
        return try ChildProcess.spawn(executable: executable.path, arguments: arguments, outputPath: logFile.path)
    }

    /// `redis-server` on `PATH`, else in the usual install locations.
    static func findExecutable() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/redis-server" }
            + ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/opt/homebrew/bin/redis-server"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw WSCTestingError(
                .executableNotFound,
                "redis-server not found on PATH or in /usr/bin: run `make deps` (Debian: apt-get install redis-server)"
            )
        }
        return URL(fileURLWithPath: found)
    }

    static func size(of file: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// The last `maxLines` lines of `file` after byte `offset`.
    static func tail(of file: URL, from offset: Int, maxLines: Int = 40) -> String {
        guard let data = FileManager.default.contents(atPath: file.path), data.count > offset else { return "" }
        let text = String(decoding: data.dropFirst(offset).suffix(16 * 1024), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .suffix(maxLines + 1)
            .joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension WSCTestingError {
    /// Whether `redis-server` exited because its port was taken.
    var isAddressInUse: Bool {
        code == .serverExited && (serverOutput ?? "").contains("Address already in use")
    }
}
