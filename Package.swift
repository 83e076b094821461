// swift-tools-version:6.1
import PackageDescription

// Each module declares what it imports (STYLE.md, "Our own code").
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "wscenter",
    platforms: [.macOS(.v15)],
    // Library products: the two standalone libraries (Redis, WebSocketCore), and what
    // Benchmarks/ (BrokerCore, FleetCore, FleetNode) and the embedding example of
    // docs/protocol.md (BrokerEmbedded or BrokerRedis, FleetNode, NativeProtocol) import.
    // The rest (Pusher, Echo, Observability, FleetHTTP, FleetGateway) is the application's
    // own: other modules reach it through `package`.
    products: [
        .executable(name: "wscenter", targets: ["wscenter"]),
        .library(name: "Redis", targets: ["Redis"]),
        .library(name: "BrokerCore", targets: ["BrokerCore"]),
        .library(name: "BrokerEmbedded", targets: ["BrokerEmbedded"]),
        .library(name: "BrokerRedis", targets: ["BrokerRedis"]),
        .library(name: "FleetCore", targets: ["FleetCore"]),
        .library(name: "FleetNode", targets: ["FleetNode"]),
        .library(name: "NativeProtocol", targets: ["NativeProtocol"]),
        .library(name: "WebSocketCore", targets: ["WebSocketCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // hiredis 0.14 (Debian libhiredis-dev): only its RESP reader is used.
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // A Redis client on SwiftNIO. Knows nothing of wscenter.
        .target(
            name: "Redis",
            dependencies: [
                "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The broker contract the node and gateway program against, and helpers built on it.
        .target(
            name: "BrokerCore",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        // The in-process broker: `wscenter serve` with nothing else installed.
        .target(
            name: "BrokerEmbedded",
            dependencies: ["BrokerCore"],
            swiftSettings: swiftSettings
        ),
        // The broker on a real Redis.
        .target(
            name: "BrokerRedis",
            dependencies: [
                "BrokerCore",
                "Redis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What travels between gateway and node: the 27 events, calls and replies, the Redis
        // key layout. The node and the gateway depend on it, never on each other.
        .target(
            name: "FleetCore",
            dependencies: ["BrokerCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // Metrics (swift-metrics into one Prometheus registry), readiness reports, the broker
        // decorator that times round trips and counts reconnects, and logfmt logs.
        .target(
            name: "Observability",
            dependencies: [
                "BrokerCore",
                "FleetCore",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Webhooks: the events queued in a stream per app, and the workers that deliver them
        // (signed, batched, retried, dead-lettered) over async-http-client.
        .target(
            name: "Hooks",
            dependencies: [
                "BrokerCore",
                "FleetCore",
                "FleetNode",
                "Observability",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the node's and the gateway's HTTP servers share: /healthz, /readyz, /metrics;
        // the read timeout and TLS (reloadable certificates) of every connection; waiting,
        // in one ServiceGroup, for the broker to connect and for the role to run.
        .target(
            name: "FleetHTTP",
            dependencies: [
                "BrokerCore",
                "Observability",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The browser side: /client.js (native protocol client) and the admin console at
        // /ui/, plain files embedded in the binary.
        .target(
            name: "WebUI",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [.embedInCode("Resources")],
            swiftSettings: swiftSettings
        ),
        // The WebSocket node: connections in memory, bindings and heartbeat in the broker,
        // calls from the bus.
        .target(
            name: "FleetNode",
            dependencies: [
                "BrokerCore",
                "FleetCore",
                "FleetHTTP",
                "Observability",
                "WebSocketCore",
                "WebUI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The native JSON protocol on ws://host:PORT/, plugged into the node.
        .target(
            name: "NativeProtocol",
            dependencies: [
                "FleetCore",
                "FleetNode",
                "Observability",
                "WebSocketCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // An echo on ECHO_PATH, plugged into the node: conformance testing only (Autobahn).
        .target(
            name: "EchoProtocol",
            dependencies: [
                "FleetHTTP",
                "FleetNode",
                "Observability",
                "WebSocketCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pusher Channels, shared by the node's protocol and the gateway's REST API: apps,
        // signatures, channel names, the Redis layout, fleet-wide membership scripts and reads.
        .target(
            name: "PusherCore",
            dependencies: [
                "BrokerCore",
                "FleetCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Pusher Channels protocol on ws://host:PORT/app/{key}, plugged into the node.
        .target(
            name: "PusherProtocol",
            dependencies: [
                "Hooks",
                "BrokerCore",
                "FleetCore",
                "FleetNode",
                "Observability",
                "PusherCore",
                "WebSocketCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The stateless HTTP gateway: the event API over the bus.
        .target(
            name: "FleetGateway",
            dependencies: [
                "BrokerCore",
                "FleetCore",
                "FleetHTTP",
                "Observability",
                "Redis",  // EventLoopTaskExecutor only
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Pusher REST API, plugged into the gateway.
        .target(
            name: "PusherAPI",
            dependencies: [
                "BrokerCore",
                "FleetCore",
                "FleetGateway",
                "FleetHTTP",
                "PusherCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The executable: reads configuration, wires services together.
        .executableTarget(
            name: "wscenter",
            dependencies: [
                "Hooks",
                "BrokerCore",
                "BrokerEmbedded",
                "BrokerRedis",
                "EchoProtocol",
                "FleetCore",
                "FleetGateway",
                "FleetHTTP",
                "FleetNode",
                "NativeProtocol",
                "Observability",
                "PusherAPI",
                "PusherCore",
                "PusherProtocol",
                "Redis",
                "WebUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A server WebSocket as one channel handler on its event loop: the upgrader, the
        // frames written pre-encoded, keep-alive, close handshake, slow consumers. Knows
        // nothing of wscenter.
        .target(
            name: "WebSocketCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers for tests: throwaway redis-server processes, the test Redis URL.
        .target(
            name: "WSCTesting",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisTests",
            dependencies: [
                "Redis",
                "WSCTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebSocketCoreTests",
            dependencies: [
                "WebSocketCore",
                "WSCTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "BrokerCoreTests", dependencies: ["BrokerCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ObservabilityTests",
            dependencies: [
                "Observability",
                "BrokerCore",
                "BrokerEmbedded",
                "WSCTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BrokerTests",
            dependencies: [
                "BrokerCore",
                "BrokerEmbedded",
                "BrokerRedis",
                "Redis",
                "WSCTesting",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FleetTests",
            dependencies: [
                "BrokerCore",
                "BrokerEmbedded",
                "BrokerRedis",
                "EchoProtocol",
                "FleetCore",
                "FleetGateway",
                "FleetHTTP",
                "Hooks",
                "FleetNode",
                "NativeProtocol",
                "Observability",
                "PusherAPI",
                "PusherCore",
                "PusherProtocol",
                "Redis",
                "WebSocketCore",
                "WSCTesting",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Property tests that feed random and mutated input to every parser of untrusted bytes.
        .testTarget(
            name: "FuzzTests",
            dependencies: [
                "BrokerCore",
                "FleetCore",
                "FleetGateway",
                "NativeProtocol",
                "PusherProtocol",
                "Redis",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WSCenterTests",
            dependencies: ["WSCTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PusherTests",
            dependencies: [
                "BrokerCore", "BrokerEmbedded", "BrokerRedis", "FleetCore", "FleetNode", "PusherAPI", "PusherCore", "PusherProtocol", "Redis", "WSCTesting",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
