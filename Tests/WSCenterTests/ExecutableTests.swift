import Foundation
import Testing
import WSCTesting

/// Runs the built `wscenter` binary (next to the test bundle) to its end: its status and
/// standard error.
private func runWSCenter(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, stderr: String) {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wscenter")
    try #require(FileManager.default.isExecutableFile(atPath: binary.path), "wscenter is not built at \(binary.path)")
    let removed: Set<String> = ["REDIS_URL", "REDIS_PREFIX", "REDIS_TLS_CA_FILE", "PORT", "HTTP_PORT", "NODE_ID", "TOKEN", "APP_SECRET", "PUSHER_ENABLED", "APPS_FILE"]
    let (status, output) = try await ProcessRun.run(binary.path, arguments, removing: removed, environment: extra)
    return (status, output)
}

@Suite("The wscenter executable", .serialized)  // each case starts a debug binary (~0.5 s of CPU): one at a time, not a burst that starves the process tests
struct ExecutableTests {
    @Test("fleet roles without REDIS_URL exit non-zero and say what to set", arguments: ["node", "gateway", "hooks"])
    func needsRedis(role: String) async throws {
        let (status, stderr) = try await runWSCenter([role])
        #expect(status != 0)
        #expect(stderr.contains("set REDIS_URL"), "\(stderr)")
    }

    @Test("bad options are refused with the reason", arguments: [
        ["serve", "--port", "70000"], ["serve", "--redis-url", "http://x"],
        ["serve", "--node-heartbeat-ttl", "1", "--node-heartbeat-interval", "2"], ["gateway", "--call-timeout", "0"],
        ["serve", "--shutdown-timeout", "0"], ["serve", "--log-level", "loud"],
        ["serve", "--webhook-url", "ftp://example.com/hooks"], ["hooks", "--webhook-retry-for", "0"],
        ["serve", "--app-webhook-url", "example.com"],
    ])
    func badOptions(arguments: [String]) async throws {
        let (status, stderr) = try await runWSCenter(arguments)
        #expect(status != 0)
        #expect(stderr.contains("Error:"), "\(stderr)")
    }

    @Test("REDIS_CLUSTER_NODES that cannot be used is refused with the reason, before anything starts", arguments: [
        (["REDIS_CLUSTER_NODES": "127.0.0.1:7000", "REDIS_URL": "redis://127.0.0.1:6379"], "both set"),
        (["REDIS_CLUSTER_NODES": "127.0.0.1:7000", "REDIS_PREFIX": "wsc:{x}:"], "must not contain { or }"),
        (["REDIS_CLUSTER_NODES": " , "], "lists no node"),
        (["REDIS_CLUSTER_NODES": "no-port"], "not host:port"),
        (["REDIS_CLUSTER_NODES": "redis://127.0.0.1:7000/3"], "only database 0"),
        (["REDIS_CLUSTER_NODES": "127.0.0.1:7000", "REDIS_TLS_CA_FILE": "/tmp/ca.pem"], "no REDIS_CLUSTER_NODES entry is rediss://"),
    ])
    func badClusterNodes(environment: [String: String], reason: String) async throws {
        let (status, stderr) = try await runWSCenter(["node"], environment: environment.merging(["APP_SECRET": "a-secret-of-our-own"]) { $1 })
        #expect(status != 0)
        #expect(stderr.contains(reason), "\(stderr)")
    }

    @Test("an unusable ECHO_PATH stops the process with a message naming it, from the flag or the environment")
    func badEchoPath() async throws {
        for (arguments, environment) in [
            (["serve", "--echo-path", "echo"], [:]), (["serve"], ["ECHO_PATH": "/app/x"]), (["node"], ["ECHO_PATH": "/healthz"]),
        ] as [([String], [String: String])] {
            let (status, stderr) = try await runWSCenter(arguments, environment: environment)
            #expect(status != 0)
            #expect(stderr.contains("--echo-path (ECHO_PATH)"), "\(arguments) \(environment): \(stderr)")
        }
    }

    @Test("a variable that does not parse stops the process and is named, never replaced by the default", arguments: [
        ("PORT", "abc"), ("HTTP_PORT", "80 80"), ("RATE_LIMIT", "fast"), ("MAX_CONNECTIONS", "1e3"),
        ("HTTP_READ_TIMEOUT", "soon"), ("PUSHER_ENABLED", "maybe"), ("REPLAY_MAX", "-"), ("CALL_TIMEOUT", "2s"),
    ])
    func unparsableVariable(name: String, value: String) async throws {
        let arguments = ["PORT", "HTTP_PORT"].contains(name) ? ["serve"] : ["serve", "--port", "0", "--http-port", "0"]
        let (status, stderr) = try await runWSCenter(arguments, environment: [name: value])
        #expect(status != 0)
        #expect(stderr.contains("\(name)=\(value)"), "\(stderr)")
    }

    @Test("values out of range or malformed are refused, naming the variable", arguments: [
        (["MAX_CONNECTIONS": "-1"], "MAX_CONNECTIONS"), (["RATE_LIMIT": "nan"], "RATE_LIMIT"),
        (["HTTP_READ_TIMEOUT": "0"], "HTTP_READ_TIMEOUT"), (["ALLOWED_ORIGINS": "example.com"], "ALLOWED_ORIGINS"),
        (["ALLOWED_ORIGINS": "https://example.com/path"], "ALLOWED_ORIGINS"), (["JWT_SECRET": "short"], "JWT_SECRET"),
    ])
    func outOfRange(environment: [String: String], name: String) async throws {
        let (status, stderr) = try await runWSCenter(["serve"], environment: environment)
        #expect(status != 0)
        #expect(stderr.contains(name), "\(stderr)")
    }

    @Test("node and gateway refuse the published Pusher secret and say what to set", arguments: ["node", "gateway"])
    func publishedSecret(role: String) async throws {
        let redis = try TestEnvironment.redisURL()
        for environment in [["REDIS_URL": redis], ["REDIS_URL": redis, "APP_SECRET": "app-secret"]] {
            let (status, stderr) = try await runWSCenter([role], environment: environment)
            #expect(status != 0)
            #expect(stderr.contains("published default") && stderr.contains("APP_SECRET") && stderr.contains("PUSHER_ENABLED=false"), "\(stderr)")
        }
        // An app of APPS_FILE with the published secret is refused too, by its id.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("apps-\(UUID().uuidString).json")
        try Data(#"[{"id":"77","key":"k77","secret":"app-secret"}]"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, stderr) = try await runWSCenter([role], environment: ["REDIS_URL": redis, "APP_SECRET": "mine-4d1e", "APPS_FILE": file.path])
        #expect(status != 0)
        #expect(stderr.contains("app 77"), "\(stderr)")
    }

    @Test("with PUSHER_ENABLED=false a node needs no secret and serves no Pusher path; serve warns about the published secret")
    func pusherOff() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wscenter").path
        let redis = try TestEnvironment.redisURL()
        let node = try ServiceProcess.start(
            executable: binary,
            arguments: ["node", "--redis-url", redis, "--redis-prefix", "off\(UInt32.random(in: 0...UInt32.max)):", "--host", "127.0.0.1", "--port", "0", "--pusher-enabled", "false"],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT", "APP_SECRET", "APPS_FILE", "PUSHER_ENABLED"]
        )
        let port = try await node.listeningPort(role: "node")
        let pusher = try await RawHTTP.exchange(port: port, RawHTTP.upgradeRequest("/app/app-key?protocol=7"), linger: 0.2)
        #expect(pusher.status >= 400 && pusher.status < 500, "\(pusher)")
        let native = try await RawHTTP.exchange(port: port, RawHTTP.upgradeRequest("/"), linger: 0.2)
        #expect(native.status == 101, "\(native)")
        node.kill(SIGTERM)
        #expect(node.termination == "exit status 0", "\(node.output())")

        let serve = try ServiceProcess.start(
            executable: binary, arguments: ["serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0"],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT", "APP_SECRET", "APPS_FILE", "PUSHER_ENABLED"]
        )
        _ = try await serve.listeningPort(role: "gateway")
        #expect(serve.output().contains("INSECURE") && serve.output().contains("app-secret"), "\(serve.output())")
        serve.kill(SIGTERM)
        _ = serve.termination
    }

    @Test("health: exit 0 when a probed port answers /healthz with 200, 1 with the reasons when none does")
    func health() async throws {
        let refusing = try RefusingTCPPort()
        let closed = refusing.port
        let refused = try await runWSCenter(["health", "--ports", "\(closed)"])
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
            status = try await runWSCenter(["health", "--ports", "\(closed),\(httpPort)"]).status
            if status != 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 0, "\(serve.output())")
        #expect(try await runWSCenter(["health", "--ready"], environment: ["PORT": "\(port)", "HTTP_PORT": "\(closed)"]).status == 0)
        serve.kill(SIGTERM)
        #expect(serve.termination == "exit status 0", "\(serve.output())")
        _ = refusing
    }
}
