// swift-tools-version:6.3
// 6.3: the library uses Task.immediate (Swift 6.2) and the SchedulingExecutor SPI of Swift 6.3's
// runtime (EventLoop+SchedulingExecutor.swift); it is tested with 6.3.1.
import PackageDescription

let package = Package(
    name: "MultiLoop",
    products: [
        .library(name: "MultiLoop", targets: ["MultiLoop"]),
        .executable(name: "multiloop", targets: ["multiloop"]),
    ],
    dependencies: [
        // For the `multiloop` command and its stress tool only; the library depends on nothing.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // libatomic_ops, a system library: without it, the build names the package to install
        // (`make test` installs it).
        .systemLibrary(name: "CAtomicOps", pkgConfig: "atomic_ops",
                       providers: [.apt(["libatomic-ops-dev"]), .yum(["libatomic_ops-devel"]),
                                   .brew(["libatomic_ops"])]),
        // The only C in the project: inline wrappers over libatomic_ops, eventfd, epoll and
        // pthread naming/affinity.
        .target(name: "CMultiLoopSystem", dependencies: ["CAtomicOps"]),
        // Debug builds route the shim's atomics through interleaving points, which the tests'
        // interleaving checker drives (Sources/MultiLoop/System/InterleavingPoints.swift);
        // release builds call the shim directly. A plain compile-time condition, not a flag.
        .target(name: "MultiLoop", dependencies: ["CMultiLoopSystem"],
                swiftSettings: [.define("ML_INTERLEAVING_POINTS", .when(configuration: .debug))]),
        // `multiloop stress`: the scenarios and their checkers (a target of their own so that the
        // tests can feed the checkers corrupted records).
        .target(name: "MultiLoopStress", dependencies: [
            "MultiLoop", "CMultiLoopSystem",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .executableTarget(name: "multiloop", dependencies: [
            "MultiLoop", "MultiLoopStress",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "MultiLoopTests", dependencies: ["MultiLoop", "CMultiLoopSystem", "MultiLoopStress"]),
    ],
    swiftLanguageModes: [.v6]
)
