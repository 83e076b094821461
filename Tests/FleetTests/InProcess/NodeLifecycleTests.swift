import BrokerCore
import BrokerEmbedded
import FleetCore
import FleetNode
import Logging
import NativeProtocol
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing
import WSCTesting

/// A node's services in a ServiceGroup, as `wscenter node` runs them: the order of a graceful
/// shutdown, and cancellation.
@Suite("A node's lifecycle")
struct NodeLifecycleTests {
    static let prefix = "lifecycle:"

    static func makeNode(on broker: EmbeddedBroker) -> NodeService {
        var logger = Logger(label: "lifecycle-test")
        logger.logLevel = .critical
        var configuration = NodeConfiguration(nodeID: "n-\(UInt32.random(in: 0...UInt32.max))", host: "127.0.0.1", port: 0, prefix: prefix)
        configuration.heartbeatInterval = .milliseconds(250)
        // Long enough that only the client releases the drain in these tests.
        configuration.drainTimeout = .seconds(30)
        return NodeService(configuration: configuration, broker: broker, logger: logger, protocols: [NativeProtocol(configuration: .init())])
    }

    @Test("under a graceful shutdown the node drains first: its server answers /readyz with 503 while a client holds the drain open; then the node leaves the fleet and the server stops")
    func gracefulShutdownDrainsFirst() async throws {
        let broker = EmbeddedBroker()
        let node = Self.makeNode(on: broker)
        let keys = FleetKeys(prefix: Self.prefix)
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await broker.run() }
                // Inherits the test's graceful shutdown, as a group inside a service would.
                tasks.addTask {
                    try await ServiceGroup(configuration: .init(services: node.services { listening.yield($0) }, logger: node.logger)).run()
                }
                let port = try #require(await firstElement(of: ports, within: .seconds(10)) { _ in true })
                try await eventually("the node is ready") { try await httpGet(port: port, "/readyz").status == 200 }
                // Never answers the close: the drain waits for it.
                let stubborn = try await IdleWebSocket.open(port: port)
                try await eventually("the node counts the client") { node.hub.connectionCount == 1 }

                trigger.triggerGracefulShutdown()
                try await eventually("the server answers 503 while the node drains") {
                    let (status, body) = try await httpGet(port: port, "/readyz")
                    return status == 503 && body.contains("draining")
                }
                #expect(try await broker.hashGetAll(keys.nodes).keys.contains(node.configuration.nodeID), "in the fleet throughout the drain")

                stubborn.close()
                // The node's group is the first task to end (the broker runs until cancelled).
                try await tasks.next()
                #expect(try await broker.hashGetAll(keys.nodes).isEmpty, "the node left the fleet")
                #expect((try? await httpGet(port: port, "/readyz")) == nil, "the server has stopped")
                tasks.cancelAll()
            }
        }
    }

    @Test("cancelling the group stops the node and its server at once and cuts its WebSockets off, leaving the rest to the janitor")
    func cancellationStopsAtOnce() async throws {
        let broker = EmbeddedBroker()
        let node = Self.makeNode(on: broker)
        let keys = FleetKeys(prefix: Self.prefix)
        let brokerTask = Task { try await broker.run() }
        defer { brokerTask.cancel() }
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let running = RunningServices(node.services { listening.yield($0) }, logger: node.logger)
        let port = try #require(await firstElement(of: ports, within: .seconds(10)) { _ in true })
        let idle = try await IdleWebSocket.open(port: port)
        try await eventually("the node counts the client") { node.hub.connectionCount == 1 }

        let cancelled = ContinuousClock.now
        running.cancel()
        _ = await running.result()
        #expect(ContinuousClock.now - cancelled < .seconds(2), "stopped \(ContinuousClock.now - cancelled) after the cancellation")
        #expect(await idle.waitUntilClosed(seconds: 5), "the client was cut off")
        #expect((try? await httpGet(port: port, "/readyz")) == nil, "the server has stopped")
        #expect(try await broker.hashGetAll(keys.nodes).keys.contains(node.configuration.nodeID), "no orderly leave: the janitor of another node removes it")
    }
}
