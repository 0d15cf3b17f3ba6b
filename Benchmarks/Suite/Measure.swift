import Foundation

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

    /// Runs `operation(0..<count)` with at most `width` operations in flight.
    package static func concurrently(
        _ count: Int, width: Int, _ operation: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            for _ in 0..<min(max(1, width), count) {
                let index = next
                next += 1
                group.addTask { try await operation(index) }
            }
            while try await group.next() != nil {
                if next < count {
                    let index = next
                    next += 1
                    group.addTask { try await operation(index) }
                }
            }
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
