// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "wscenter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wscenter", targets: ["wscenter"]),
        .library(name: "Redis", targets: ["Redis"]),
        .library(name: "BrokerCore", targets: ["BrokerCore"]),
        .library(name: "BrokerEmbedded", targets: ["BrokerEmbedded"]),
        .library(name: "BrokerRedis", targets: ["BrokerRedis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
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
        // The executable: reads configuration, wires services together.
        .executableTarget(
            name: "wscenter",
            dependencies: [
                "BrokerCore",
                "BrokerEmbedded",
                "BrokerRedis",
                "Redis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
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
        .testTarget(name: "BrokerCoreTests", dependencies: ["BrokerCore"], swiftSettings: swiftSettings),
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
            name: "WSCenterTests",
            dependencies: ["WSCTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
