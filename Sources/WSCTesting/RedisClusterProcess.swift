import Foundation

/// A throwaway Redis Cluster on 127.0.0.1: `masters` masters with `replicas` replicas each,
/// every one a ``RedisServerProcess`` with `--cluster-enabled yes`, joined by
/// `redis-cli --cluster create`. Killed when released, like its servers.
///
/// ```swift
/// let cluster = try await RedisClusterProcess.start()
/// // connect to cluster.seeds ... then, for a failover:
/// try await cluster.kill(cluster.masterPort(ofSlot: 0))
/// ```
package final class RedisClusterProcess: Sendable {
    /// Every node, in the order they were started (`redis-cli` makes the first `masters` of
    /// them masters).
    package let servers: [RedisServerProcess]
    /// How long a node may be unreachable before its replica takes over (`cluster-node-timeout`).
    package let nodeTimeout: Duration

    /// `127.0.0.1:PORT` of every node.
    package var seeds: [String] { servers.map { "127.0.0.1:\($0.port)" } }
    /// The password every node requires (`requirepass`, and `masterauth` for replicas), if any.
    package let password: String?

    private init(servers: [RedisServerProcess], nodeTimeout: Duration, password: String?) {
        self.password = password
        self.servers = servers
        self.nodeTimeout = nodeTimeout
    }

    /// Starts the nodes, creates the cluster and returns once every node says it is `ok`
    /// with all 16,384 slots served.
    package static func start(
        masters: Int = 3, replicas: Int = 1, nodeTimeout: Duration = .seconds(2), password: String? = nil
    ) async throws -> RedisClusterProcess {
        let milliseconds = Int(nodeTimeout.components.seconds * 1000 + nodeTimeout.components.attoseconds / 1_000_000_000_000_000)
        var servers: [RedisServerProcess] = []
        for _ in 0..<(masters * (1 + replicas)) {
            servers.append(try await startNode(arguments: [
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "\(milliseconds)", "--cluster-require-full-coverage", "no",
                // A replica's first sync at once, not after the default 5 s: a replica that never
                // synced does not take over from a master that dies.
                "--repl-diskless-sync-delay", "0",
            ] + (password.map { ["--requirepass", $0, "--masterauth", $0] } ?? [])))
        }
        let cluster = RedisClusterProcess(servers: servers, nodeTimeout: nodeTimeout, password: password)
        let (status, output) = try await cluster.cli(["--cluster", "create"] + cluster.seeds + ["--cluster-replicas", "\(replicas)", "--cluster-yes"])
        guard status == 0 else { throw WSCTestingError(.systemCallFailed, "redis-cli --cluster create failed: \(output.suffix(2000))") }
        try await cluster.waitUntilHealthy()
        return cluster
    }

    /// A node on a port whose cluster bus port (+10000) is also usable: both below 65536,
    /// and another pair tried when either is taken.
    private static func startNode(arguments: [String]) async throws -> RedisServerProcess {
        var lastError: (any Error)?
        for _ in 0..<10 {
            let port = Int.random(in: 20_000..<29_000)
            do {
                return try await RedisServerProcess.start(port: port, extraArguments: arguments)
            } catch let error as WSCTestingError where error.isAddressInUse || error.code == .serverExited {
                lastError = error
            }
        }
        throw lastError ?? WSCTestingError(.serverStartTimedOut, "no free port pair for a cluster node")
    }

    /// Runs `redis-cli` with `arguments`: its status and output.
    package func cli(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let auth = password.map { ["-a", $0, "--no-auth-warning"] } ?? []
        return try await ProcessRun.run(try Self.redisCLI(), auth + arguments, timeout: 60)
    }

    /// One node's answer to a command, as `redis-cli` prints it.
    package func ask(_ port: Int, _ command: [String]) async throws -> String {
        let (status, output) = try await cli(["-p", "\(port)"] + command)
        guard status == 0 else { throw WSCTestingError(.systemCallFailed, "redis-cli -p \(port) \(command.joined(separator: " ")): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until every running node says `cluster_state:ok` with all slots served, and every
    /// running replica is in sync with its master.
    package func waitUntilHealthy(within timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            var healthy = true
            for server in servers where server.isRunning {
                let info = (try? await ask(server.port, ["CLUSTER", "INFO"])) ?? ""
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                    healthy = false
                    last = "127.0.0.1:\(server.port): \(info.prefix(200))"
                    break
                }
                let replication = (try? await ask(server.port, ["INFO", "replication"])) ?? ""
                if replication.contains("role:slave"), !replication.contains("master_link_status:up") {
                    healthy = false
                    last = "127.0.0.1:\(server.port): a replica not in sync yet"
                    break
                }
            }
            if healthy { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw WSCTestingError(.serverStartTimedOut, "the cluster is not healthy within \(timeout): \(last)")
    }

    /// The port of the master serving `slot`, as a running node sees it (`CLUSTER NODES`:
    /// `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot or range>…`).
    package func masterPort(ofSlot slot: Int) async throws -> Int {
        for server in servers where server.isRunning {
            guard let nodes = try? await ask(server.port, ["CLUSTER", "NODES"]) else { continue }
            for line in nodes.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count > 8, fields[2].split(separator: ",").contains("master"), !fields[2].contains("fail") else { continue }
                let serves = fields[8...].contains { range in
                    let bounds = range.split(separator: "-").compactMap { Int($0) }
                    return bounds.count == 2 ? (bounds[0]...bounds[1]).contains(slot) : bounds.first == slot
                }
                let address = fields[1].split(separator: "@")[0]
                if serves, let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) { return port }
            }
        }
        throw WSCTestingError(.systemCallFailed, "no node knows the master of slot \(slot)")
    }

    /// Moves `slot` to the master on `target` as `redis-cli --cluster reshard` does: marks it
    /// importing there and migrating at its master, moves its keys a few at a time (`MIGRATE`,
    /// `pause` between batches), then gives it to `target` on every running node.
    package func moveSlot(_ slot: Int, to target: Int, pause: Duration = .milliseconds(20)) async throws {
        let source = try await masterPort(ofSlot: slot)
        guard source != target else { return }
        let (sourceID, targetID) = (try await nodeID(source), try await nodeID(target))
        _ = try await ask(target, ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID])
        _ = try await ask(source, ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID])
        while true {
            let batch = try await ask(source, ["CLUSTER", "GETKEYSINSLOT", "\(slot)", "10"])
                .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
            guard !batch.isEmpty else { break }
            _ = try await ask(source, ["MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS"] + batch)
            try await Task.sleep(for: pause)
        }
        // The new owner first, then the old, then the others (replicas refuse: ignored).
        _ = try await ask(target, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
        _ = try await ask(source, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
        for server in servers where server.isRunning && server.port != source && server.port != target {
            _ = try? await ask(server.port, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
        }
    }

    /// The ports of the masters that serve slots, as a running node sees them.
    package func masterPorts() async throws -> [Int] {
        for server in servers where server.isRunning {
            guard let nodes = try? await ask(server.port, ["CLUSTER", "NODES"]) else { continue }
            return nodes.split(separator: "\n").compactMap { line -> Int? in
                let fields = line.split(separator: " ")
                guard fields.count > 8, fields[2].split(separator: ",").contains("master"), !fields[2].contains("fail") else { return nil }
                return fields[1].split(separator: "@")[0].split(separator: ":").last.flatMap { Int($0) }
            }.sorted()
        }
        throw WSCTestingError(.systemCallFailed, "no cluster node answers CLUSTER NODES")
    }

    /// The node id of the node on `port`.
    package func nodeID(_ port: Int) async throws -> String {
        try await ask(port, ["CLUSTER", "MYID"])
    }

    /// The running node on `port`.
    package func server(_ port: Int) -> RedisServerProcess? {
        servers.first { $0.port == port }
    }

    static func redisCLI() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/redis-cli" } + ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw WSCTestingError(.executableNotFound, "redis-cli not found: run `make deps` (Debian: apt-get install redis-tools)")
        }
        return found
    }
}
