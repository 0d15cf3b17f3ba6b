// swift-tools-version:6.0
// libFuzzer targets for the decoders of bytes that come from the server and from files. A separate
// package, so its sanitizer flags never touch the main build: its library targets are symlinks to the
// main package's sources (Sources/EventbaseCore, Adapters/...), built here with coverage and
// AddressSanitizer; the dependencies (swift-log, swift-nio) are built plainly.
//
//     scripts/fuzz                 # every target for FUZZ_SECONDS (default 600) each
//     scripts/fuzz --ci            # replay Fuzz/Corpus, then 10 s per target
import PackageDescription

let sanitized: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .unsafeFlags(["-sanitize=fuzzer,address"]),
]
let fuzzerLink: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]

func fuzzer(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name, dependencies: dependencies + ["CFuzzDriver"], path: "Sources/\(name)",
        swiftSettings: sanitized, linkerSettings: fuzzerLink)
}

let package = Package(
    name: "EventbaseFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(
            name: "EventbaseCore", dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "Sources/EventbaseCore", swiftSettings: sanitized),
        .target(
            name: "EventbaseJetStream", dependencies: ["EventbaseCore"], path: "Sources/EventbaseJetStream",
            swiftSettings: sanitized),
        .systemLibrary(name: "CEventbaseZlib", path: "Sources/CEventbaseZlib"),
        .target(
            name: "EventbaseFileStore",
            dependencies: ["EventbaseCore", "CEventbaseZlib", .product(name: "Logging", package: "swift-log")],
            path: "Sources/EventbaseFileStore", swiftSettings: sanitized),
        .target(
            name: "EventbaseNATSCodec",
            dependencies: ["EventbaseCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/EventbaseNATSCodec", swiftSettings: sanitized),
        .target(name: "CFuzzDriver", path: "Sources/CFuzzDriver"),
        fuzzer(
            "FuzzNATSParser", ["EventbaseNATSCodec", "EventbaseCore", .product(name: "NIOCore", package: "swift-nio")]),
        fuzzer("FuzzJetStreamResponse", ["EventbaseJetStream", "EventbaseCore"]),
        fuzzer("FuzzSnapshot", ["EventbaseFileStore", "EventbaseCore"]),
        fuzzer("FuzzQuery", ["EventbaseCore"]),
        fuzzer("FuzzEventDecode", ["EventbaseCore"]),
    ]
)
