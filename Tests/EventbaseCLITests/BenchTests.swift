import ArgumentParser
import EventbaseBenchmarkSuite
import EventbaseTestKit
import Foundation
import Testing

@testable import eventbase

/// A smoke run of `eventbase bench` at tiny sizes, so the suite never rots. Its figures mean nothing and
/// nothing here asserts timing: only that every benchmark runs and reports in the documented shape.
@Suite struct BenchTests {
    @Test func optionsSelectBenchmarksAndOverrideSizes() throws {
        let command = try Bench.parse(["--quick", "--only", "get,put_seq", "--records", "1234", "--writers", "8"])
        let configuration = command.suiteConfiguration()
        #expect(configuration.names == ["put_seq", "get"])
        #expect(configuration.records == 1234)
        #expect(configuration.writers == 8)
        #expect(configuration.puts == BenchmarkConfiguration.quick.puts)
        #expect(throws: (any Error).self) { try Bench.parse(["--only", "put_sideways"]) }
        #expect(throws: (any Error).self) { try Bench.parse(["--records", "0"]) }
    }

    @Test(.enabled(if: NATSServerFixture.isAvailable))
    func everyBenchmarkRunsAtTinySizesAgainstAThrowawayServer() async throws {
        let results = try await Bench.measure(.smoke, server: nil, handlingSignals: false)
        #expect(results.map(\.name) == BenchmarkConfiguration.allNames)

        let lines = try BenchmarkReport.jsonLines(results).split(separator: "\n")
        #expect(lines.count == BenchmarkConfiguration.allNames.count)
        let keys: Set<String> = [
            "name", "operations", "seconds", "ops_per_s", "p50_us", "p99_us", "unit", "baseline",
            "baseline_ops_per_s", "ratio", "reference", "reference_ops_per_s", "target", "target_met", "environment",
            "baseline_p50_us", "reference_p50_us",
        ]
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(object.keys) == keys, "\(line)")
            #expect((object["operations"] as? Int ?? 0) > 0)
            #expect((object["ops_per_s"] as? Double ?? 0) > 0 || object["name"] as? String == "memory")
            #expect(object["baseline"] is String)
            #expect(object["ratio"] is Double || object["ratio"] is Int)
            let environment = try #require(object["environment"] as? [String: Any])
            #expect(Set(environment.keys) == ["server_version", "cores", "build_configuration", "message_size"])
            #expect((environment["message_size"] as? Int ?? 0) > 100)
        }
        let get = try #require(results.first { $0.name == "get" })
        #expect(get.p99Microseconds != nil && get.referenceOpsPerSecond != nil)
        #expect(results.first { $0.name == "put_seq" }?.target == "ratio >= 0.85")
        #expect(results.allSatisfy { $0.environment.serverVersion != "unknown" })

        let table = BenchmarkReport.table(results)
        #expect(table.split(separator: "\n").count >= results.count + 1)
        #expect(table.contains("put_pipelined"))
    }
}
