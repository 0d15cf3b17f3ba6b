import Foundation
import Logging

/// Records a ``Stat`` for each operation without waiting: stats queue up (dropped, and counted, once
/// ``EventbaseOptions/statsBufferSize`` are waiting) and ``run()`` hands them to the stats sink in
/// batches. With no sink, recording does nothing.
final class StatsRecorder: Sendable {
    private let sink: (any StatsSink)?
    private let queue: BoundedQueue<Stat>
    private let timeout: Duration
    private let clock: any Clock<Duration>
    private let now: @Sendable () -> Date
    private let logger: Logger

    init(
        sink: (any StatsSink)?, capacity: Int, timeout: Duration, clock: any Clock<Duration>,
        now: @escaping @Sendable () -> Date, logger: Logger
    ) {
        self.sink = sink
        self.queue = BoundedQueue(capacity: capacity)
        self.timeout = timeout
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    /// How many stats were dropped because the queue was full.
    var droppedCount: Int { queue.droppedCount }

    /// Records an operation that started at `started` and ends now.
    func record(
        _ operation: Stat.Operation, started: Date, id: String? = nil, pattern: String? = nil,
        query: JSONValue? = nil, resultCount: Int? = nil
    ) {
        guard sink != nil else { return }
        let duration = now().timeIntervalSince(started) * 1000
        queue.offer(
            Stat(
                operation: operation, id: id, pattern: pattern, query: query, queryResultCount: resultCount,
                timestamp: started.millisecondsSince1970, duration: max(0, duration)))
    }

    /// Records a stat for each entry the replica skipped.
    func recordSkipped(_ skipped: [Replica.SkippedEntry]) {
        guard sink != nil else { return }
        let timestamp = now().millisecondsSince1970
        for entry in skipped {
            queue.offer(
                Stat(
                    operation: .skipInvalid, timestamp: timestamp, duration: 0, reason: entry.kind.description,
                    sequence: entry.sequence))
        }
    }

    /// Hands queued stats to the sink, each batch within the stats timeout (a batch that takes
    /// longer is dropped), until ``finish()``: then what is queued is handed over and it returns.
    func run() async {
        while let batch = await queue.next() {
            guard let sink else { continue }
            do {
                try await withDeadline(timeout, clock: clock, "Recording stats") {
                    try await sink.record(batch)
                }
            } catch {
                logger.warning("The stats sink failed; dropped \(batch.count) stats", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stops taking stats; ``run()`` returns once the queued ones are handed over.
    func finish() {
        queue.finish()
    }
}
