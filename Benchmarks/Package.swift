// swift-tools-version:6.1
// Benchmarks for MultiLoop, side by side with SwiftNIO (a peer, for comparison only).
// A package of its own so that the library itself depends on neither package-benchmark nor NIO.
// Run from the top level with `make bench`, or here with
//   swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "MultiLoopBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "MultiLoop", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    ],
    targets: [
        .executableTarget(
            name: "LoopBenchmarks",
            dependencies: [
                .product(name: "MultiLoop", package: "MultiLoop"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/LoopBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
