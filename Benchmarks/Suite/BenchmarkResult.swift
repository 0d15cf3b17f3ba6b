/// One benchmark's figures and the baseline it was measured against in the same run.
///
/// Encoded as one JSON object (`eventbase bench --json FILE` writes one a line) with the keys
/// `name`, `operations`, `seconds`, `ops_per_s`, `p50_us`, `p99_us`, `unit`, `baseline`,
/// `baseline_ops_per_s`, `ratio`, `reference`, `reference_ops_per_s`, `target`, `target_met` and
/// `environment`; absent figures are `null`.
public struct BenchmarkResult: Codable, Sendable, Equatable {
    /// The benchmark's name (`put_seq`, `query_eq`, ...).
    public var name: String
    /// How many operations were timed.
    public var operations: Int
    /// How long they took.
    public var seconds: Double
    /// Operations per second (for `memory`: resident bytes per record).
    public var opsPerSecond: Double
    /// The median latency of one operation, where latencies were measured.
    public var p50Microseconds: Double?
    /// The 99th percentile latency of one operation, where latencies were measured.
    public var p99Microseconds: Double?
    /// What `ops_per_s` counts (`puts/s`, `events/s`, `bytes/record`, ...).
    public var unit: String
    /// What the benchmark was compared with.
    public var baseline: String
    /// The baseline's figure, in the same unit.
    public var baselineOpsPerSecond: Double
    /// `ops_per_s / baseline_ops_per_s`: above 1 Eventbase is faster than its baseline (for `memory`,
    /// below 1 it is smaller).
    public var ratio: Double
    /// A further figure a target refers to (the C client's rate, a direct-get round trip), if any.
    public var reference: String?
    /// That figure.
    public var referenceOpsPerSecond: Double?
    /// The project's target for this benchmark, in words, or `nil` when it has none.
    public var target: String?
    /// Whether the target was met in this run, or `nil` when there is none.
    public var targetMet: Bool?
    /// The baseline's median latency, when the benchmark compares latencies.
    public var baselineP50Microseconds: Double?
    /// The reference's median latency, when the benchmark compares latencies.
    public var referenceP50Microseconds: Double?
    /// Where it was measured.
    public var environment: BenchmarkEnvironment

    /// Creates a result; `ratio` is `opsPerSecond / baselineOpsPerSecond`.
    public init(
        name: String, operations: Int, seconds: Double, opsPerSecond: Double, p50Microseconds: Double? = nil,
        p99Microseconds: Double? = nil, unit: String, baseline: String, baselineOpsPerSecond: Double,
        reference: String? = nil, referenceOpsPerSecond: Double? = nil, baselineP50Microseconds: Double? = nil,
        referenceP50Microseconds: Double? = nil, environment: BenchmarkEnvironment
    ) {
        self.baselineP50Microseconds = baselineP50Microseconds
        self.referenceP50Microseconds = referenceP50Microseconds
        self.name = name
        self.operations = operations
        self.seconds = seconds
        self.opsPerSecond = opsPerSecond
        self.p50Microseconds = p50Microseconds
        self.p99Microseconds = p99Microseconds
        self.unit = unit
        self.baseline = baseline
        self.baselineOpsPerSecond = baselineOpsPerSecond
        self.ratio = baselineOpsPerSecond > 0 ? opsPerSecond / baselineOpsPerSecond : 0
        self.reference = reference
        self.referenceOpsPerSecond = referenceOpsPerSecond
        self.environment = environment
        let target = BenchmarkTarget.of(name)
        self.target = target?.text
        self.targetMet = target?.isMet(self)
    }

    enum CodingKeys: String, CodingKey {
        case name, operations, seconds, unit, baseline, ratio, reference, target, environment
        case opsPerSecond = "ops_per_s"
        case p50Microseconds = "p50_us"
        case p99Microseconds = "p99_us"
        case baselineOpsPerSecond = "baseline_ops_per_s"
        case referenceOpsPerSecond = "reference_ops_per_s"
        case targetMet = "target_met"
        case baselineP50Microseconds = "baseline_p50_us"
        case referenceP50Microseconds = "reference_p50_us"
    }

    /// Encodes every key, absent figures as `null`, so each line has the same shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(operations, forKey: .operations)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(opsPerSecond, forKey: .opsPerSecond)
        try container.encode(p50Microseconds, forKey: .p50Microseconds)
        try container.encode(p99Microseconds, forKey: .p99Microseconds)
        try container.encode(unit, forKey: .unit)
        try container.encode(baseline, forKey: .baseline)
        try container.encode(baselineOpsPerSecond, forKey: .baselineOpsPerSecond)
        try container.encode(ratio, forKey: .ratio)
        try container.encode(reference, forKey: .reference)
        try container.encode(referenceOpsPerSecond, forKey: .referenceOpsPerSecond)
        try container.encode(target, forKey: .target)
        try container.encode(targetMet, forKey: .targetMet)
        try container.encode(baselineP50Microseconds, forKey: .baselineP50Microseconds)
        try container.encode(referenceP50Microseconds, forKey: .referenceP50Microseconds)
        try container.encode(environment, forKey: .environment)
    }
}

/// Where a benchmark ran.
public struct BenchmarkEnvironment: Codable, Sendable, Equatable {
    /// The nats-server version (`2.15.1`), `unknown` when it could not be read, `none` without a server.
    public var serverVersion: String
    /// The processor cores this process may use.
    public var cores: Int
    /// `release` or `debug`: how the suite was compiled.
    public var buildConfiguration: String
    /// The bytes of one event's JSON payload as it is published.
    public var messageSize: Int

    /// Creates an environment description.
    public init(serverVersion: String, cores: Int, buildConfiguration: String, messageSize: Int) {
        self.serverVersion = serverVersion
        self.cores = cores
        self.buildConfiguration = buildConfiguration
        self.messageSize = messageSize
    }

    /// How this code was compiled.
    public static var currentBuildConfiguration: String {
        #if DEBUG
            return "debug"
        #else
            return "release"
        #endif
    }

    enum CodingKeys: String, CodingKey {
        case cores
        case serverVersion = "server_version"
        case buildConfiguration = "build_configuration"
        case messageSize = "message_size"
    }
}
