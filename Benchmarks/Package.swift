// swift-tools-version:6.1
// Benchmarks for MultiLoop, side by side with its peers (SwiftNIO, Dispatch, Swift's global
// executor, a mutex-and-eventfd baseline), which are here for comparison only. A package of its
// own so that the library itself depends on none of them.
//
// - `LoopBenchmarks`: package-benchmark micro-benchmarks with malloc counts. From the top level:
//   `make bench` (run them) and `make bench-check` (malloc counts against Thresholds/).
// - `multiloop-scaling` (Sources/ScalingSweep; not under Benchmarks/, where package-benchmark
//   would take it for a benchmark target): the thread-scaling sweep, a standalone executable (it also builds with
//   `--static-swift-stdlib` to run on another machine). From the top level: `make scaling`.
// - The echo benchmark (docs/benchmarks.md, "Echo server"; `make echo`): `multiloop-echo-client`,
//   the load generator; `echo-ceiling`, a minimal C epoll echo server that shows what the generator
//   can drive; `echo-nio`, SwiftNIO's echo server as a peer. The driver and the Python peers are in
//   python/ (echo_bench.py, echo_server.py).
import PackageDescription

let package = Package(
    name: "MultiLoopBenchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "multiloop-scaling", targets: ["ScalingSweep"]),
        .executable(name: "multiloop-echo-client", targets: ["EchoClient"]),
        .executable(name: "echo-ceiling", targets: ["EchoCeiling"]),
        .executable(name: "echo-nio", targets: ["EchoNIO"]),
        .executable(name: "echo-multiloop", targets: ["EchoMultiLoop"]),
    ],
    dependencies: [
        .package(name: "MultiLoop", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The echo client's latency histogram (already pinned: package-benchmark depends on it).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Threads and semaphores shared by the executables.
        .target(name: "BenchSupport"),
        // eventfd for the sweep's plain peers (Swift's Glibc module does not expose it).
        .target(name: "CBenchSystem"),
        // epoll and TCP_NODELAY for the echo client (Swift's Glibc module exposes neither).
        .target(name: "CEchoSystem"),
        .executableTarget(
            name: "LoopBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "MultiLoop", package: "MultiLoop"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/LoopBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ScalingSweep",
            dependencies: [
                "BenchSupport", "CBenchSystem",
                .product(name: "MultiLoop", package: "MultiLoop"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The echo benchmark's load generator: N connections, each a closed loop of checked round trips.
        .executableTarget(
            name: "EchoClient",
            dependencies: [
                "BenchSupport", "CEchoSystem",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The ceiling: the smallest level-triggered epoll echo server (C, one thread).
        .executableTarget(name: "EchoCeiling"),
        // SwiftNIO's echo server (NIOEchoServer's handler) as a peer.
        .executableTarget(
            name: "EchoNIO",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // MultiLoop's echo servers: streams, and the raw readiness-callback path.
        .executableTarget(
            name: "EchoMultiLoop",
            dependencies: [
                .product(name: "MultiLoop", package: "MultiLoop"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
