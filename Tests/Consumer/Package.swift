// swift-tools-version:6.3
// A package that uses MultiLoop as a dependency, as a user's would: public API only (no
// @testable, no SPI). `make consumer` builds and runs it.
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [
        // Named: a path dependency is otherwise known by its folder's name, which a checkout may change.
        .package(name: "MultiLoop", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [.product(name: "MultiLoop", package: "MultiLoop")]),
    ],
    swiftLanguageModes: [.v6]
)
