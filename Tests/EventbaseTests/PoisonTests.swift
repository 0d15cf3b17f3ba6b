import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Messages on the stream that are not valid events are skipped the same way by every replica,
/// counted per kind, recorded in stats and logged without their contents; replication goes on.
@Suite struct PoisonTests {
    @Test func everyReplicaSkipsTheSamePoisonAndKeepsApplying() async throws {
        let server = InMemoryLogServer()
        let capture = LogCapture()
        let sink = InMemoryStatsSink()
        let first = try await Eventbase.builder(streamName: "poison").inMemory(server: server)
            .logger(capture.logger()).statsSink(sink).build()
        let updates = sink.updates()
        _ = try await first.put("before", ["n": 1])
        let poison = PoisonMessage.all(stream: "poison")
        for message in poison {
            _ = try server.publishRaw(
                stream: "poison", subject: message.subject, payload: message.payload, headers: message.headers)
        }
        _ = try await first.put("after", ["n": 2])
        // A second replica replays the same log from the start.
        let second = try await Eventbase.builder(streamName: "poison").inMemory(server: server).build()
        _ = try await second.put("later", ["n": 3])
        // The first replica's own write returns once it has applied everything before it, "later" too.
        _ = try await first.put("last", ["n": 4])

        var expected: [InvalidEntryKind: Int] = [:]
        for message in poison { expected[message.kind, default: 0] += 1 }
        #expect(first.invalidEntryCounts == expected)
        #expect(second.invalidEntryCounts == expected)
        #expect(first.invalidEntryCount == poison.count)
        #expect(second.invalidEntryCount == poison.count)
        #expect(try await first.keys() == ["after", "before", "last", "later"])
        #expect(try await second.keys().filter { $0 != "last" } == ["after", "before", "later"])
        #expect(try await second.get("after")?.data == ["n": 2, "id": "after"])

        // One warning per skipped entry, naming its kind, never its contents.
        let warnings = capture.records.filter { $0.message == "Skipped an entry that is not a valid event" }
        #expect(warnings.count == poison.count)
        #expect(Set(warnings.compactMap { $0.metadata["kind"] }) == Set(poison.map(\.kind.description)))
        #expect(warnings.allSatisfy { "\($0.level)" == "warning" })
        for message in poison where !message.secret.isEmpty {
            #expect(!capture.text.contains(message.secret), "the log quotes \(message)")
        }

        // One stat per skipped entry, with its kind and sequence.
        var skipped: [Stat] = []
        for await stat in updates where stat.operation == .skipInvalid {
            skipped.append(stat)
            if skipped.count == poison.count { break }
        }
        #expect(skipped.map(\.reason) == poison.map(\.kind.description))
        #expect(skipped.allSatisfy { $0.sequence != nil && $0.jsonValue["reason"] != nil })
        await first.close()
        await second.close()
    }
}

/// A document nested deeper than replicas read is a typed error before anything is written, so it
/// never becomes poison on the stream.
@Suite struct DeepDocumentTests {
    private func nested(_ depth: Int) -> JSONValue {
        var value: JSONValue = 1
        for _ in 0..<depth { value = ["x": value] }
        return value
    }

    @Test func documentsDeeperThanReplicasReadAreRejectedBeforeSending() async throws {
        let server = InMemoryLogServer()
        let eventbase = try await Eventbase.builder(streamName: "deep").inMemory(server: server).build()
        _ = try await eventbase.put("ok", nested(JSONLimits.default.maxDepth - 1))
        for depth in [JSONLimits.default.maxDepth, 200, 10_000] {
            let error = await #expect(throws: EventbaseError.self) { try await eventbase.put("deep", nested(depth)) }
            #expect(error?.code == .limitExceeded)
        }
        #expect(eventbase.appliedSequence == 1, "a rejected document reached the stream")
        // A replica replaying the stream reads the accepted document.
        let replica = try await Eventbase.builder(streamName: "deep").inMemory(server: server).build()
        #expect(try await replica.get("ok") != nil)
        #expect(replica.invalidEntryCount == 0)
        await eventbase.close()
        await replica.close()
    }
}
