// swift-tools-version:6.0
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Eventbase",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Eventbase", targets: ["Eventbase"]),
        .library(name: "EventbaseCore", targets: ["EventbaseCore"]),
        .library(name: "EventbaseMemory", targets: ["EventbaseMemory"]),
        .library(name: "EventbaseTestKit", targets: ["EventbaseTestKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2")
    ],
    targets: [
        .target(
            name: "EventbaseCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "Sources/EventbaseCore",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseMemory",
            dependencies: ["EventbaseCore"],
            path: "Adapters/Memory",
            swiftSettings: strictSettings
        ),
        .target(
            name: "Eventbase",
            dependencies: ["EventbaseCore", "EventbaseMemory", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Eventbase",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseTestKit",
            dependencies: ["EventbaseCore"],
            path: "Tests/EventbaseTestKit",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: ["Eventbase"],
            path: "Benchmarks/CoreBenchmarks",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseCoreTests",
            dependencies: ["EventbaseCore", "EventbaseTestKit"],
            path: "Tests/EventbaseCoreTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseTests",
            dependencies: ["Eventbase", "EventbaseMemory", "EventbaseTestKit"],
            path: "Tests/EventbaseTests",
            swiftSettings: strictSettings
        ),
    ]
)
