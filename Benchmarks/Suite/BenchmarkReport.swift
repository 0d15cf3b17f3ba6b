import Foundation

/// The suite's results as a table for people and as JSON lines for programs.
public enum BenchmarkReport {
    /// A readable table: one row a benchmark with its figure, its baseline's, the ratio, the target and
    /// whether this run met it.
    public static func table(_ results: [BenchmarkResult]) -> String {
        let header = [
            "benchmark", "eventbase", "unit", "p99 us", "baseline", "baseline fig.", "ratio", "target", "met",
        ]
        let rows = results.map { result in
            [
                result.name, figure(result.opsPerSecond), result.unit,
                result.p99Microseconds.map { String(format: "%.1f", $0) } ?? "-", result.baseline,
                figure(result.baselineOpsPerSecond), String(format: "%.3f", result.ratio), result.target ?? "-",
                result.targetMet.map { $0 ? "yes" : "NO" } ?? "-",
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        let numeric: Set<Int> = [1, 3, 5, 6]
        func format(_ row: [String]) -> String {
            row.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return numeric.contains(column) ? padding + row[column] : row[column] + padding
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        var lines = [format(header)]
        lines += rows.map(format)
        if let environment = results.first?.environment {
            lines.append(
                "nats-server \(environment.serverVersion), \(environment.cores) cores, "
                    + "\(environment.buildConfiguration) build, \(environment.messageSize)-byte events")
        }
        let references = results.compactMap { result -> String? in
            guard let reference = result.reference, let figure = result.referenceOpsPerSecond else { return nil }
            return "\(result.name): \(reference) \(Self.figure(figure))/s"
        }
        if !references.isEmpty { lines.append("references: " + references.joined(separator: "; ")) }
        return lines.joined(separator: "\n")
    }

    /// One line about one result, for progress output.
    public static func line(_ result: BenchmarkResult) -> String {
        var text = "\(result.name): \(figure(result.opsPerSecond)) \(result.unit)"
        if let p99 = result.p99Microseconds { text += String(format: " (p99 %.1f us)", p99) }
        text += " vs \(result.baseline) \(figure(result.baselineOpsPerSecond))"
        text += String(format: ", ratio %.3f", result.ratio)
        if let target = result.target, let met = result.targetMet {
            text += " (target \(target): \(met ? "met" : "NOT met"))"
        }
        return text
    }

    /// One JSON object a line, keys sorted.
    public static func jsonLines(_ results: [BenchmarkResult]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try results.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
    }

    /// A figure with thousands separators, or two decimals when small.
    static func figure(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        if abs(value) < 100 { return String(format: "%.2f", value) }
        var digits = String(Int(value.rounded()))
        var groups: [Substring] = []
        while digits.count > 3 {
            groups.insert(digits.suffix(3), at: 0)
            digits.removeLast(3)
        }
        groups.insert(Substring(digits), at: 0)
        return groups.joined(separator: ",")
    }
}
