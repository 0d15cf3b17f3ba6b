import Eventbase
import Foundation

/// Eventbase's benchmark suite: every hot path measured against a baseline in the same run on
/// the same server, reported as a ratio.
///
/// ```swift
/// var configuration = BenchmarkConfiguration.quick
/// configuration.names = ["put_seq", "get"]
/// let suite = BenchmarkSuite(configuration: configuration, serverURL: "nats://127.0.0.1:4222")
/// let results = try await suite.run { print($0) }
/// print(BenchmarkReport.table(results))
/// ```
public struct BenchmarkSuite: Sendable {
    /// What to run and at what sizes.
    public var configuration: BenchmarkConfiguration
    /// The nats-server with JetStream the server benchmarks use; `nil` runs only the local ones.
    public var serverURL: String?
    /// The server's version for the report; `nil` asks the server.
    public var serverVersion: String?
    /// Where file stores are kept during the run (created by ``run(progress:)``, removed at its end).
    public var scratchDirectory: String

    /// Creates a suite.
    /// - Parameters:
    ///   - configuration: What to run and at what sizes.
    ///   - serverURL: The nats-server to use (it needs JetStream); `nil` for none.
    ///   - serverVersion: The server's version, when the caller knows it.
    public init(configuration: BenchmarkConfiguration, serverURL: String?, serverVersion: String? = nil) {
        self.configuration = configuration
        self.serverURL = serverURL
        self.serverVersion = serverVersion
        scratchDirectory =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "eventbase-bench-\(UUID().uuidString)"
            ).path
    }

    /// Runs the selected benchmarks, in the order of ``BenchmarkConfiguration/allNames``.
    /// - Parameter progress: Called with a line of progress before each benchmark and with details.
    /// - Returns: One result for each benchmark run.
    /// - Throws: `.invalidArgument` for an unknown name or a server benchmark without a server;
    ///   what the server or the instance throws.
    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> [BenchmarkResult] {
        let names = Set(configuration.names)
        if let unknown = configuration.names.first(where: { !BenchmarkConfiguration.allNames.contains($0) }) {
            throw EventbaseError(
                .invalidArgument,
                "No benchmark named \(unknown); choose from \(BenchmarkConfiguration.allNames.joined(separator: ", "))."
            )
        }
        let needsServer = !names.isDisjoint(with: BenchmarkConfiguration.serverNames) || names.contains("get")
        if serverURL == nil, !names.isDisjoint(with: BenchmarkConfiguration.serverNames) {
            throw EventbaseError(.invalidArgument, "These benchmarks need a nats-server with JetStream: give its URL.")
        }
        let version = serverVersion ?? serverURL.map { ServerVersion.read(url: $0) ?? "unknown" } ?? "none"
        let environment = BenchmarkEnvironment(
            serverVersion: version, cores: ProcessInfo.processInfo.activeProcessorCount,
            buildConfiguration: BenchmarkEnvironment.currentBuildConfiguration,
            messageSize: BenchmarkData.messageSize)
        let scratch = scratchDirectory
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        var results: [BenchmarkResult] = []
        func record(_ result: BenchmarkResult) {
            results.append(result)
            progress(BenchmarkReport.line(result))
        }
        var directGetRate: Double?
        if needsServer, let serverURL {
            let transport = NATSTransport(NATSOptions(servers: [serverURL], name: "eventbase-bench"))
            try await transport.connect()
            do {
                let server = ServerBenchmarks(
                    url: serverURL, configuration: configuration, environment: environment, transport: transport,
                    js: JetStreamContext(transport: transport, requestTimeout: .seconds(30)), scratch: scratch,
                    progress: progress)
                let single: [(String, () async throws -> BenchmarkResult)] = [
                    ("put_seq", server.putSequential), ("put_seq_ceiling", server.putSequentialCeiling),
                    ("put_conc", server.putConcurrent), ("put_conc_ceiling", server.putConcurrentCeiling),
                    ("put_pipelined", server.putPipelined),
                    ("put_pipelined_ceiling", server.putPipelinedCeiling), ("stats_overhead", server.statsOverhead),
                    ("put_seq_idempotent", server.putSequentialIdempotent), ("get_latest", server.getLatest),
                ]
                for (name, benchmark) in single where names.contains(name) {
                    progress("running \(name)")
                    record(try await benchmark())
                }
                if !names.isDisjoint(with: ["replay", "open_snapshot", "memory"]) {
                    progress("running replay, open_snapshot, memory (\(configuration.records) events)")
                    for result in try await server.replayGroup(names) { record(result) }
                }
                if names.contains("get") { directGetRate = try await server.directGetRate() }
            } catch {
                await transport.close()
                throw error
            }
            await transport.close()
        }
        let local = LocalBenchmarks(configuration: configuration, environment: environment, progress: progress)
        if !names.isDisjoint(with: ["get", "query_eq", "query_range", "query_regex", "query_sorted_limit"]) {
            progress("running get and queries (\(configuration.localRecords) records)")
            for result in try await local.readGroup(names, directGetRate: directGetRate) { record(result) }
        }
        if names.contains("subscribe_fanout") {
            progress("running subscribe_fanout")
            record(try await local.subscribeFanout())
        }
        if names.contains("put_conc_memory") {
            progress("running put_conc_memory")
            record(try await local.putConcurrentlyInMemory())
        }
        let order = Dictionary(uniqueKeysWithValues: BenchmarkConfiguration.allNames.enumerated().map { ($1, $0) })
        return results.sorted { order[$0.name, default: 0] < order[$1.name, default: 0] }
    }
}
