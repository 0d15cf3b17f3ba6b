import Logging

/// Sends every batch to several sinks in turn; one failing sink is logged and does not affect the
/// others (so a failing metrics backend never stops the stats stream, or the reverse).
struct FanOutStatsSink: StatsSink {
    let sinks: [any StatsSink]
    let logger: Logger

    func open() async throws {
        for sink in sinks {
            do {
                try await sink.open()
            } catch {
                logger.warning(
                    "A stats sink failed to open; its stats will be dropped",
                    metadata: ["sink": "\(type(of: sink))", "error": "\(error)"])
            }
        }
    }

    func record(_ stats: [Stat]) async throws {
        for sink in sinks {
            do {
                try await sink.record(stats)
            } catch {
                logger.warning(
                    "A stats sink failed; dropped \(stats.count) stats",
                    metadata: ["sink": "\(type(of: sink))", "error": "\(error)"])
            }
        }
    }

    func close() async {
        for sink in sinks { await sink.close() }
    }
}
