import ArgumentParser
import Eventbase
import EventbaseBenchmarkSuite
import EventbaseTestKit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Eventbase against raw JetStream and plain Swift, each baseline in the same run.",
        discussion: """
            Starts a throwaway nats-server (NATS_SERVER_BIN, else nats-server on PATH) on a free port with \
            JetStream and a temporary store, and stops it at the end, or measures against --server. \
            Prints a table with each benchmark's ratio to its baseline and the target it is held to; \
            --json writes one JSON object per benchmark. Build with -c release: \
            swift run -c release eventbase bench --quick. See docs/benchmarks.md.
            """)

    @Option(help: "A nats-server with JetStream to measure against (default: start a throwaway one).")
    var server: String?

    @Flag(help: "Smaller sizes, so that the whole suite runs in under two minutes.")
    var quick = false

    @Flag(help: .hidden)
    var smoke = false

    @Option(help: ArgumentHelp("Write one JSON object per benchmark, one a line, to this file.", valueName: "file"))
    var json: String?

    @Option(
        help: ArgumentHelp(
            "Run only these benchmarks (comma-separated): "
                + BenchmarkConfiguration.allNames.joined(separator: ", ") + ".", valueName: "names"))
    var only: String?

    @Option(help: "Events in the replayed stream: replay, open_snapshot, memory (default 1,000,000; quick 100,000).")
    var records: Int?

    @Option(name: .customLong("local-records"), help: "Records that get and the queries read (default 100,000).")
    var localRecords: Int?

    @Option(
        help: "Puts in put_conc, put_pipelined, stats_overhead and their ceilings (default 50,000; quick 10,000).")
    var puts: Int?

    @Option(
        name: .customLong("sequential-puts"), help: "Puts in put_seq and put_seq_ceiling (default 5,000; quick 1,000).")
    var sequentialPuts: Int?

    @Option(help: "Concurrent writers in put_conc, put_conc_ceiling and stats_overhead (default 64).")
    var writers: Int?

    @Option(name: .customLong("pipelined-writers"), help: "Concurrent writers in put_pipelined (default 256).")
    var pipelinedWriters: Int?

    @Option(help: "Live queries in subscribe_fanout (default 1,000).")
    var subscriptions: Int?

    @Option(name: .customLong("fanout-events"), help: "Events applied in each half of subscribe_fanout.")
    var fanoutEvents: Int?

    func validate() throws {
        let sizes = [
            records, localRecords, puts, sequentialPuts, writers, pipelinedWriters, subscriptions, fanoutEvents,
        ]
        if sizes.contains(where: { ($0 ?? 1) < 1 }) { throw ValidationError("Sizes must be positive.") }
        if let unknown = selectedNames?.first(where: { !BenchmarkConfiguration.allNames.contains($0) }) {
            throw ValidationError(
                "No benchmark named \(unknown); choose from \(BenchmarkConfiguration.allNames.joined(separator: ", "))."
            )
        }
        if quick && smoke { throw ValidationError("Choose --quick or --smoke, not both.") }
    }

    var selectedNames: [String]? {
        only.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    /// The suite's configuration from the flags.
    func suiteConfiguration() -> BenchmarkConfiguration {
        var configuration = smoke ? BenchmarkConfiguration.smoke : quick ? .quick : BenchmarkConfiguration()
        if let selectedNames {
            configuration.names = BenchmarkConfiguration.allNames.filter { selectedNames.contains($0) }
        }
        if let records { configuration.records = records }
        if let localRecords { configuration.localRecords = localRecords }
        if let puts { configuration.puts = puts }
        if let sequentialPuts { configuration.sequentialPuts = sequentialPuts }
        if let writers { configuration.writers = writers }
        if let pipelinedWriters { configuration.pipelinedWriters = pipelinedWriters }
        if let subscriptions { configuration.subscriptions = subscriptions }
        if let fanoutEvents { configuration.fanoutEvents = fanoutEvents }
        return configuration
    }

    func run() async throws {
        try await EventbaseCLI.run {
            if BenchmarkEnvironment.currentBuildConfiguration == "debug" {
                Self.note(
                    "warning: this is a debug build, whose figures say little; run "
                        + "swift run -c release eventbase bench")
            }
            let results = try await Self.measure(suiteConfiguration(), server: server)
            FileHandle.standardOutput.write(Data((BenchmarkReport.table(results) + "\n").utf8))
            if let json {
                do {
                    try BenchmarkReport.jsonLines(results).write(toFile: json, atomically: true, encoding: .utf8)
                } catch {
                    throw CLIFailure(
                        message: "Cannot write \(json): \(error.localizedDescription)", exitCode: ExitCode(1))
                }
            }
        }
    }

    /// Runs the suite against `server`, or against a throwaway nats-server that is stopped at the end,
    /// also on an error or (with `handlingSignals`) on SIGINT/SIGTERM.
    static func measure(
        _ configuration: BenchmarkConfiguration, server: String?, handlingSignals: Bool = true
    ) async throws -> [BenchmarkResult] {
        let names = Set(configuration.names)
        let needsServer = !names.isDisjoint(with: BenchmarkConfiguration.serverNames) || names.contains("get")
        var fixture: NATSServerFixture?
        var suite = BenchmarkSuite(configuration: configuration, serverURL: server)
        if server == nil, needsServer {
            let started = try await NATSServerFixture.start()
            fixture = started
            suite.serverURL = started.url
            suite.serverVersion = NATSServerFixture.binaryVersion()?.map(String.init).joined(separator: ".")
            note("started a throwaway nats-server \(suite.serverVersion ?? "") at \(started.url) (\(started.binary))")
        }
        let scratch = suite.scratchDirectory
        let cleanUp: @Sendable () async -> Void = { [fixture] in
            await fixture?.stopAndRemove()
            try? FileManager.default.removeItem(atPath: scratch)
        }
        let signals = AsyncStream<Int32> { continuation in
            guard handlingSignals else { return continuation.finish() }
            let sources = SignalSources([SIGINT, SIGTERM]) { continuation.yield($0) }
            continuation.onTermination = { _ in sources.cancel() }
        }
        let finalSuite = suite
        do {
            let results = try await withThrowingTaskGroup(of: [BenchmarkResult]?.self) { group -> [BenchmarkResult]? in
                group.addTask { try await finalSuite.run { note($0) } }
                group.addTask {
                    for await _ in signals {
                        // The server is stopped before exiting, so that no nats-server outlives the run.
                        await cleanUp()
                        note("interrupted; the throwaway server and the benchmark's files were removed")
                        Foundation.exit(130)
                    }
                    return nil
                }
                defer { group.cancelAll() }
                while let finished = try await group.next() {
                    if let finished { return finished }
                }
                return nil
            }
            await cleanUp()
            return results ?? []
        } catch {
            await cleanUp()
            throw error
        }
    }

    /// Writes a line to standard error.
    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
