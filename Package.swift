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
        .executable(name: "eventbase", targets: ["eventbase"]),
        .library(name: "EventbaseCore", targets: ["EventbaseCore"]),
        .library(name: "EventbaseMemory", targets: ["EventbaseMemory"]),
        .library(name: "EventbaseFileStore", targets: ["EventbaseFileStore"]),
        .library(name: "EventbaseTestKit", targets: ["EventbaseTestKit"]),
        .library(name: "EventbaseNATS", targets: ["EventbaseNATS"]),
        .library(name: "EventbaseJetStream", targets: ["EventbaseJetStream"]),
        .library(name: "EventbaseMetrics", targets: ["EventbaseMetrics"]),
        .library(name: "EventbaseServiceLifecycle", targets: ["EventbaseServiceLifecycle"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", exact: "2.0.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
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
        .systemLibrary(
            name: "CEventbaseZlib",
            path: "Adapters/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "EventbaseFileStore",
            dependencies: ["EventbaseCore", "CEventbaseZlib", .product(name: "Logging", package: "swift-log")],
            path: "Adapters/FileStore",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseNATS",
            dependencies: [
                "EventbaseCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Adapters/NATS",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseJetStream",
            dependencies: ["EventbaseCore", .product(name: "Logging", package: "swift-log")],
            path: "Adapters/JetStream",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseMetrics",
            dependencies: ["EventbaseCore", .product(name: "CoreMetrics", package: "swift-metrics")],
            path: "Adapters/Metrics",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseServiceLifecycle",
            dependencies: ["EventbaseCore", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Adapters/ServiceLifecycle",
            swiftSettings: strictSettings
        ),
        .target(
            name: "Eventbase",
            dependencies: [
                "EventbaseCore", "EventbaseMemory", "EventbaseFileStore", "EventbaseNATS", "EventbaseJetStream",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Eventbase",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseTestKit",
            dependencies: ["EventbaseCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/EventbaseTestKit",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "eventbase",
            dependencies: [
                "Eventbase", "EventbaseBenchmarkSuite", "EventbaseTestKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/eventbase-cli",
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventbaseBenchmarkSuite",
            dependencies: ["Eventbase"],
            path: "Benchmarks/Suite",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "HostileBench",
            dependencies: ["EventbaseCore", "EventbaseMemory"],
            path: "Benchmarks/HostileBench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ReplayStagesBench",
            dependencies: [
                "Eventbase", "EventbaseBenchmarkSuite", "EventbaseCore", "EventbaseMemory", "EventbaseNATS",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/ReplayStagesBench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "NATSBench",
            dependencies: ["EventbaseBenchmarkSuite", "EventbaseNATS", "EventbaseCore", "EventbaseTestKit"],
            path: "Benchmarks/NATSBench",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseCLITests",
            dependencies: [
                "eventbase", "Eventbase", "EventbaseCore", "EventbaseBenchmarkSuite", "EventbaseTestKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/EventbaseCLITests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseCoreTests",
            dependencies: [
                "EventbaseCore", "EventbaseTestKit", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/EventbaseCoreTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseFileStoreTests",
            dependencies: ["Eventbase", "EventbaseFileStore", "EventbaseMemory", "EventbaseTestKit", "CEventbaseZlib"],
            path: "Tests/EventbaseFileStoreTests",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FileStoreBench",
            dependencies: ["Eventbase", "EventbaseFileStore", "EventbaseMemory"],
            path: "Benchmarks/FileStoreBench",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseTests",
            dependencies: [
                "Eventbase", "EventbaseMemory", "EventbaseTestKit",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/EventbaseTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseNATSTests",
            dependencies: [
                "EventbaseNATS",
                "EventbaseTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/EventbaseNATSTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseJetStreamTests",
            dependencies: ["EventbaseJetStream", "EventbaseTestKit"],
            path: "Tests/EventbaseJetStreamTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseMetricsTests",
            dependencies: [
                "EventbaseMetrics", "Eventbase", "EventbaseTestKit",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/EventbaseMetricsTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseServiceLifecycleTests",
            dependencies: [
                "EventbaseServiceLifecycle", "Eventbase", "EventbaseTestKit",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            path: "Tests/EventbaseServiceLifecycleTests",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "eventbase-fault-child",
            dependencies: ["Eventbase", "EventbaseCore", "EventbaseFileStore"],
            path: "Tests/FaultChild",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventbaseFaultTests",
            dependencies: [
                "Eventbase", "EventbaseCore", "EventbaseNATS", "EventbaseJetStream", "EventbaseMemory",
                "EventbaseFileStore", "EventbaseTestKit", "eventbase-fault-child",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/EventbaseFaultTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Eventbase", "EventbaseCore", "EventbaseNATS", "EventbaseJetStream", "EventbaseTestKit",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/IntegrationTests",
            swiftSettings: strictSettings
        ),
    ]
)
