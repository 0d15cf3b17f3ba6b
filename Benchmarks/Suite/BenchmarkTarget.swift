/// The targets the project holds itself to, as checks on one run's result.
///
/// The reference figures were measured on the project's kind of machine (2 cores shared by
/// client and server, nats-server 2.15.1, file storage) with the official C client libnats 3.4.
package struct BenchmarkTarget: Sendable {
    /// The C client's publish-with-ack rate with 4,096 acks pipelined.
    package static let cPipelinedPublish = 190_000.0
    /// The C client's rate draining 1,000,000 messages.
    package static let cDrain = 780_000.0
    /// The C client's direct-get round trips per second.
    package static let cDirectGet = 7_000.0

    /// The target in words.
    package var text: String
    /// Whether a result meets it.
    package var isMet: @Sendable (BenchmarkResult) -> Bool

    /// The target of the benchmark `name`, or `nil` when there is none.
    package static func of(_ name: String) -> BenchmarkTarget? {
        switch name {
        case "put_seq":
            return ratio(atLeast: 0.85, "0.85")
        case "put_conc":
            return ratio(atLeast: 0.6, "0.6")
        case "put_pipelined":
            return BenchmarkTarget(text: "ratio >= 0.6; raw >= C client 190k/s") {
                $0.ratio >= 0.6 && $0.baselineOpsPerSecond >= cPipelinedPublish
            }
        case "replay":
            return BenchmarkTarget(text: "ratio >= 0.5; raw >= 0.8 x C client 780k/s") {
                $0.ratio >= 0.5 && $0.baselineOpsPerSecond >= 0.8 * cDrain
            }
        case "open_snapshot":
            return ratio(atLeast: 10, "10")
        case "get":
            return BenchmarkTarget(text: ">= 100 x direct get; p99 < 5 us") { result in
                let directGet = result.referenceOpsPerSecond ?? cDirectGet
                return result.opsPerSecond >= 100 * directGet && (result.p99Microseconds ?? .infinity) < 5
            }
        case "subscribe_fanout":
            return ratio(atLeast: 0.5, "0.5")
        case "stats_overhead":
            return ratio(atLeast: 0.9, "0.9")
        case "put_seq_idempotent":
            return ratio(atLeast: 0.95, "0.95")
        case "get_latest":
            return BenchmarkTarget(text: "p50 at most one direct get's p50 above .local") { result in
                guard let latest = result.p50Microseconds, let local = result.baselineP50Microseconds,
                    let directGet = result.referenceP50Microseconds
                else { return false }
                return latest - local <= directGet
            }
        case "put_conc_memory":
            // The in-memory backend's target, an absolute rate.
            return BenchmarkTarget(text: ">= 200,000 puts/s") { $0.opsPerSecond >= 200_000 }
        case "memory":
            return BenchmarkTarget(text: "ratio < 3") { $0.ratio < 3 }
        default:
            return nil
        }
    }

    private static func ratio(atLeast minimum: Double, _ text: String) -> BenchmarkTarget {
        BenchmarkTarget(text: "ratio >= " + text) { $0.ratio >= minimum }
    }
}
