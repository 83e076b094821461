import Foundation
import Testing
import WSCTesting

/// Runs the built `wscenter` binary (next to the test bundle) and captures its output.
private func runWSCenter(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32, stderr: String) {
    let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary = binDirectory.appendingPathComponent("wscenter")
    try #require(FileManager.default.isExecutableFile(atPath: binary.path), "wscenter is not built at \(binary.path)")
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    for name in ["REDIS_URL", "PORT", "HTTP_PORT", "NODE_ID", "TOKEN"] { environment[name] = nil }
    environment.merge(extra) { $1 }
    process.environment = environment
    let stderr = Pipe()
    process.standardError = stderr
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let output = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

@Suite("The wscenter executable")
struct ExecutableTests {
    @Test("fleet roles without REDIS_URL exit non-zero and say what to set", arguments: ["node", "gateway", "hooks"])
    func needsRedis(role: String) throws {
        let (status, stderr) = try runWSCenter([role])
        #expect(status != 0)
        #expect(stderr.contains("set REDIS_URL"), "\(stderr)")
    }

    @Test("hooks says honestly that webhook delivery is not built yet")
    func hooksIsHonest() throws {
        let (status, stderr) = try runWSCenter(["hooks"], environment: ["REDIS_URL": try TestEnvironment.redisURL()])
        #expect(status != 0)
        #expect(stderr.contains("not implemented yet"), "\(stderr)")
        #expect(stderr.contains("webhook"), "\(stderr)")
    }

    @Test("bad options are refused with the reason", arguments: [
        ["serve", "--port", "70000"], ["serve", "--redis-url", "http://x"],
        ["serve", "--node-heartbeat-ttl", "1", "--node-heartbeat-interval", "2"], ["gateway", "--call-timeout", "0"],
        ["serve", "--shutdown-timeout", "0"], ["serve", "--log-level", "loud"],
    ])
    func badOptions(arguments: [String]) throws {
        let (status, stderr) = try runWSCenter(arguments)
        #expect(status != 0)
        #expect(stderr.contains("Error:"), "\(stderr)")
    }

    @Test("an unusable ECHO_PATH stops the process with a message naming it, from the flag or the environment")
    func badEchoPath() throws {
        for (arguments, environment) in [
            (["serve", "--echo-path", "echo"], [:]), (["serve"], ["ECHO_PATH": "/app/x"]), (["node"], ["ECHO_PATH": "/healthz"]),
        ] as [([String], [String: String])] {
            let (status, stderr) = try runWSCenter(arguments, environment: environment)
            #expect(status != 0)
            #expect(stderr.contains("--echo-path (ECHO_PATH)"), "\(arguments) \(environment): \(stderr)")
        }
    }

    @Test("health: exit 0 when a probed port answers /healthz with 200, 1 with the reasons when none does")
    func health() async throws {
        let refusing = try RefusingTCPPort()
        let closed = refusing.port
        let refused = try runWSCenter(["health", "--ports", "\(closed)"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not healthy: 127.0.0.1:\(closed)/healthz: cannot connect"), "\(refused.stderr)")

        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wscenter").path
        let serve = try ServiceProcess.start(
            executable: binary,
            arguments: ["serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0"],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT"]
        )
        let (port, httpPort) = (try await serve.listeningPort(role: "node"), try await serve.listeningPort(role: "gateway"))
        var status: Int32 = -1
        for _ in 0..<100 where status != 0 {
            status = try runWSCenter(["health", "--ports", "\(closed),\(httpPort)"]).status
            if status != 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 0, "\(serve.output())")
        #expect(try runWSCenter(["health", "--ready"], environment: ["PORT": "\(port)", "HTTP_PORT": "\(closed)"]).status == 0)
        serve.kill(SIGTERM)
        #expect(serve.termination == "exit status 0", "\(serve.output())")
        _ = refusing
    }
}
