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
        // The layers, one module each, each importing only the ones below it, so that an upward
        // reference does not compile (docs/design.md, "The layers"). Their names start with an
        // underscore: internal modules, whose API is for the package (`package`), not for users.
        //
        // System: the C shim's Swift side (atomic words, padding, threads, locks). Debug builds
        // route the shim's atomics through interleaving points, which the tests' interleaving
        // checker drives (InterleavingPoints.swift); release builds call the shim directly. A
        // plain compile-time condition, not a flag.
        .target(name: "_MultiLoopSystem", dependencies: ["CMultiLoopSystem"],
                swiftSettings: [.define("ML_INTERLEAVING_POINTS", .when(configuration: .debug))]),
        // The inbox: the producers' lock-free lanes and the wake word they register through.
        .target(name: "_MultiLoopInbox", dependencies: ["_MultiLoopSystem"]),
        // The loop: handles, timers, the iteration, close, and running Swift jobs (it knows what
        // a job is, not what a task is; the layers above attach their per-loop state through
        // `EventLoopAttachment`).
        .target(name: "_MultiLoopEventLoop", dependencies: ["_MultiLoopInbox"]),
        // What users import: the registry, futures, the concurrency bridge (tasks, gather,
        // timeouts, executors), sync primitives, generators and loop groups, re-exporting the
        // loop's public API.
        .target(name: "MultiLoop", dependencies: ["_MultiLoopEventLoop"]),
        // `multiloop stress`: the scenarios and their checkers (a target of their own so that the
        // tests can feed the checkers corrupted records).
        .target(name: "MultiLoopStress", dependencies: [
            "MultiLoop", "_MultiLoopSystem", "CMultiLoopSystem", "MultiLoopTestSupport",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        // The asyncio tutorial's examples (`multiloop examples`), in no product.
        .target(name: "MultiLoopExamples", dependencies: ["MultiLoop", "_MultiLoopSystem"]),
        .executableTarget(name: "multiloop", dependencies: [
            "MultiLoop", "_MultiLoopSystem", "MultiLoopStress", "MultiLoopExamples",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // What the tests and the stress tool share: a joinable thread, a locked box, atomic
        // counters and a flag, a seeded random generator, a loop group's shutdown load. In no
        // product.
        .target(name: "MultiLoopTestSupport", dependencies: ["MultiLoop", "_MultiLoopSystem", "CMultiLoopSystem"]),
        .testTarget(name: "MultiLoopTests", dependencies: [
            "MultiLoop", "_MultiLoopEventLoop", "_MultiLoopInbox", "_MultiLoopSystem", "CMultiLoopSystem",
            "MultiLoopTestSupport",
        ]),
        // The examples' output and relative timing (the command's own checks: .ci/cli-tests.sh).
        .testTarget(name: "MultiLoopExamplesTests", dependencies: ["MultiLoopExamples", "MultiLoop", "MultiLoopTestSupport"]),
        // The stress tool's checkers fed corrupted records, and a short run of every scenario.
        .testTarget(name: "MultiLoopStressTests", dependencies: ["MultiLoopStress", "MultiLoop", "MultiLoopTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
