// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "MultiLoop",
    products: [
        .library(name: "MultiLoop", targets: ["MultiLoop"]),
        .executable(name: "multiloop", targets: ["multiloop"]),
    ],
    targets: [
        // The only C in the project: inline wrappers over libatomic_ops, eventfd, epoll and
        // pthread naming/affinity. Needs the libatomic-ops-dev headers (`make test` installs them).
        .target(name: "CMultiLoopSystem"),
        .target(name: "MultiLoop", dependencies: ["CMultiLoopSystem"]),
        .executableTarget(name: "multiloop", dependencies: ["MultiLoop"]),
        .testTarget(name: "MultiLoopTests", dependencies: ["MultiLoop", "CMultiLoopSystem"]),
    ],
    swiftLanguageModes: [.v6]
)
