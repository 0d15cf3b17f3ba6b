/// Which benchmarks to run and at what sizes.
public struct BenchmarkConfiguration: Sendable {
    /// Every benchmark, in the order they run.
    public static let allNames = [
        "put_seq", "put_seq_ceiling", "put_conc", "put_conc_ceiling", "put_pipelined", "put_pipelined_ceiling",
        "stats_overhead", "put_seq_idempotent", "get_latest", "replay", "open_snapshot", "memory", "get", "query_eq",
        "query_range", "query_regex", "query_sorted_limit", "subscribe_fanout", "put_conc_memory",
    ]
    /// The benchmarks that need a server.
    public static let serverNames: Set<String> = [
        "put_seq", "put_seq_ceiling", "put_conc", "put_conc_ceiling", "put_pipelined", "put_pipelined_ceiling",
        "stats_overhead", "replay", "open_snapshot", "memory", "put_seq_idempotent", "get_latest",
    ]

    /// The benchmarks to run (a subset of ``allNames``).
    public var names: [String] = BenchmarkConfiguration.allNames
    /// Events in the replayed stream (`replay`, `open_snapshot`, `memory`).
    public var records = 1_000_000
    /// Records in the local replica that `get` and the queries read.
    public var localRecords = 100_000
    /// Puts timed one at a time (`put_seq`, `put_seq_ceiling`).
    public var sequentialPuts = 5_000
    /// Puts timed in `put_conc`, `put_pipelined`, `stats_overhead`, `put_conc_memory` and the ceilings
    /// (and for each of their baselines).
    public var puts = 50_000
    /// Concurrent writers of `put_conc`, `stats_overhead` and `put_conc_memory`.
    public var writers = 64
    /// Concurrent writers of `put_pipelined`: enough to saturate (on 2 cores, puts stop getting faster
    /// at 128 to 256 writers; 1,024 and 4,096 are no faster).
    public var pipelinedWriters = 256
    /// Acks in flight in `put_pipelined`'s raw baseline.
    public var acksInFlight = 4_096
    /// Live queries registered in `subscribe_fanout`.
    public var subscriptions = 1_000
    /// Events applied in each half of `subscribe_fanout`.
    public var fanoutEvents = 20_000
    /// How many times each query runs.
    public var queryRepeats = 20
    /// Direct gets timed for `get`'s reference (the round trip it is compared with).
    public var directGets = 2_000

    /// The full suite at its standard sizes.
    public init() {}

    /// Sizes for a run under two minutes (`eventbase bench --quick`).
    public static var quick: BenchmarkConfiguration {
        var configuration = BenchmarkConfiguration()
        configuration.records = 100_000
        configuration.sequentialPuts = 1_000
        configuration.puts = 10_000
        configuration.fanoutEvents = 10_000
        configuration.queryRepeats = 5
        configuration.directGets = 1_000
        return configuration
    }

    /// Tiny sizes that only check that every benchmark still runs (CI); their figures mean nothing.
    public static var smoke: BenchmarkConfiguration {
        var configuration = BenchmarkConfiguration()
        configuration.records = 500
        configuration.localRecords = 500
        configuration.sequentialPuts = 20
        configuration.puts = 200
        configuration.writers = 8
        configuration.pipelinedWriters = 32
        configuration.acksInFlight = 64
        configuration.subscriptions = 20
        configuration.fanoutEvents = 100
        configuration.queryRepeats = 1
        configuration.directGets = 20
        return configuration
    }
}
