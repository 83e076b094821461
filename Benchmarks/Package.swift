// swift-tools-version:6.1
// Benchmarks for wscenter, in their own package so that `swift build` and `swift test`
// of the main package never fetch or build package-benchmark.
//
//   cd Benchmarks && swift package benchmark        (or `make bench` from the root)
//
// See docs/performance.md for what is measured and the recorded figures.
import PackageDescription

let package = Package(
    name: "wscenter-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package; named so the product reference below does not depend on the
        // name of the directory it was cloned into.
        .package(name: "wscenter", path: ".."),
        // package-benchmark, under its new name (the plugin warns about the old
        // github.com/ordo-one/package-benchmark identity). Only the malloc interposer trait:
        // the default traits also enable the ARC runtime interposer, which on Linux with
        // Swift 6.3 adds swift-runtime-interposer as a further dependency.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "RedisBenchmarks",
            dependencies: [
                .product(name: "Redis", package: "wscenter"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/RedisBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
        .executableTarget(
            name: "FleetBenchmarks",
            dependencies: [
                .product(name: "BrokerCore", package: "wscenter"),
                .product(name: "FleetCore", package: "wscenter"),
                .product(name: "FleetNode", package: "wscenter"),
                .product(name: "WebSocketCore", package: "wscenter"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Benchmarks/FleetBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ]
)
