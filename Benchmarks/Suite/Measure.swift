import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Timing, concurrency and memory helpers shared by every benchmark.
package enum Measure {
    /// A duration in seconds.
    package static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// How long `body` takes, in seconds.
    package static func time(_ body: () async throws -> Void) async rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return seconds(start.duration(to: clock.now))
    }

    /// The value at `fraction` (0...1) of sorted samples.
    package static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    /// The p50 and p99 of latencies in seconds, in microseconds; `nil`s without samples.
    package static func percentilesMicroseconds(_ latencies: [Double]) -> (p50: Double?, p99: Double?) {
        guard !latencies.isEmpty else { return (nil, nil) }
        let sorted = latencies.sorted()
        return (percentile(sorted, 0.5) * 1e6, percentile(sorted, 0.99) * 1e6)
    }

    /// Runs `operation(0..<count)` from `width` concurrent writers: each a task that takes the next
    /// index and runs it, until none is left (so no task is created per operation).
    package static func concurrently(
        _ count: Int, width: Int, _ operation: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        let next = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<min(max(1, width), count) {
                group.addTask {
                    while true {
                        let index = next.take()
                        guard index < count else { return }
                        try await operation(index)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The process's resident set size in bytes (Linux `/proc/self/statm`), or `nil` where unavailable.
    package static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Gives freed heap memory back to the system (glibc's `malloc_trim`, which its module map does not
    /// export), so resident sizes count live data.
    package static func releaseFreeMemory() {
        #if canImport(Glibc)
            typealias MallocTrim = @convention(c) (Int) -> Int32
            guard let symbol = dlsym(nil, "malloc_trim") else { return }
            _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }
}

/// Hands out 0, 1, 2, … to concurrent takers.
private final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int {
        value.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}
