import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(2)))
struct JetStreamIntegrationTests {
    private func builder(
        _ server: NATSServerFixture, _ stream: String, store: InMemoryStateStore = InMemoryStateStore()
    )
        -> EventbaseBuilder
    {
        Eventbase.builder(streamName: stream).stateStore(store).nats(
            testNATSOptions(server), stream: testStreamOptions())
    }

    private func uniqueName(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
    }

    // MARK: Replication

    @Test func twoInstancesConvergeOnConcurrentWritesToTheSameKeys() async throws {
        try await withJetStream { server, transport in
            let stream = uniqueName("converge")
            let a = try await builder(server, stream).build()
            let b = try await builder(server, stream).build()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<60 {
                    let target = index.isMultiple(of: 2) ? a : b
                    group.addTask {
                        _ = try await target.put("k\(index % 6)", ["writer": .number(Double(index))])
                    }
                }
                for index in 0..<3 {
                    group.addTask { _ = try await b.delete("k\(index)") }
                }
                try await group.waitForAll()
            }
            let last = try await JetStreamContext(transport: transport).streamInfo(stream).lastSequence
            try await eventually(a, "a applies everything") { a.appliedSequence >= last }
            try await eventually(b, "b applies everything") { b.appliedSequence >= last }
            let fresh = try await builder(server, stream).build()
            for key in (0..<6).map({ "k\($0)" }) {
                let onA = try await a.get(key)
                let onB = try await b.get(key)
                let onFresh = try await fresh.get(key)
                #expect(onA == onB, "replicas disagree on \(key)")
                #expect(onFresh == onA, "a fresh replica disagrees on \(key)")
            }
            #expect(try await a.keys().sorted() == b.keys().sorted())
            try await a.deleteStream()
            await b.close()
            await fresh.close()
        }
    }

    @Test func optimisticConcurrencyConflictBetweenInstancesIsTyped() async throws {
        try await withNATSServer { server in
            let stream = uniqueName("conflict")
            let a = try await builder(server, stream).build()
            let b = try await builder(server, stream).build()
            let first = try await a.put("k", ["v": 1])
            _ = try await b.put("k", ["v": 2])
            let error = await #expect(throws: EventbaseError.self) {
                try await a.put("k", ["v": 3], expectedRevision: first.meta.revision)
            }
            #expect(error?.code == .conflict)
            try await a.deleteStream()
            await b.close()
        }
    }

    // MARK: Wire compatibility with eventbase v3

    @Test func writesAreByteForByteTheV3Format() async throws {
        try await withJetStream { server, transport in
            let stream = uniqueName("wire")
            let eventbase = try await builder(server, stream).build()
            _ = try await eventbase.put("user 1", ["name": "Ann", "age": 31])
            _ = try await eventbase.put("gone", [:])
            _ = try await eventbase.delete("gone")
            let js = JetStreamContext(transport: transport)
            let putSubject = "\(stream).\(Data("user 1".utf8).base64EncodedString())-put"
            let put = try #require(try await js.lastMessage(stream: stream, subject: putSubject))
            let timestamp = try #require(try JSONValue(jsonBytes: put.payload)["timestamp"]?.intValue)
            #expect(
                String(decoding: put.payload, as: UTF8.self)
                    == #"{"type":"PUT","id":"user 1","data":{"name":"Ann","age":31},"timestamp":\#(timestamp)}"#)
            #expect(put.headers?["Nats-Msg-Id"] != nil)
            let delete = try #require(
                try await js.lastMessage(
                    stream: stream, subject: "\(stream).\(Data("gone".utf8).base64EncodedString())-delete"))
            let deleteTimestamp = try #require(try JSONValue(jsonBytes: delete.payload)["timestamp"]?.intValue)
            #expect(
                String(decoding: delete.payload, as: UTF8.self)
                    == #"{"type":"DELETE","id":"gone","timestamp":\#(deleteTimestamp)}"#)
            let info = try await js.streamInfo(stream)
            #expect(info.config.subjects == ["\(stream).*"])
            #expect(info.config.storage == .file)
            try await eventbase.deleteStream()
        }
    }

    @Test func readsWhatEventbaseV3Writes() async throws {
        try await withJetStream { server, transport in
            let stream = uniqueName("v3")
            let js = JetStreamContext(transport: transport)
            // The stream as eventbase v3 creates it: subjects <stream>.*, file storage, server defaults.
            _ = try await js.createStream(
                JetStreamStreamConfig(name: stream, subjects: ["\(stream).*"], allowDirect: false))
            func v3Put(_ key: String, _ data: String, _ timestamp: Int) async throws {
                let subject = "\(stream).\(Data(key.utf8).base64EncodedString())-put"
                let payload = #"{"type":"PUT","id":"\#(key)","data":\#(data),"timestamp":\#(timestamp)}"#
                _ = try await js.publish(subject, payload: Array(payload.utf8))
                try await js.purgeStream(stream, subject: subject, keep: 1)
            }
            func v3Delete(_ key: String, _ timestamp: Int) async throws {
                let token = Data(key.utf8).base64EncodedString()
                let payload = #"{"type":"DELETE","id":"\#(key)","timestamp":\#(timestamp)}"#
                _ = try await js.publish("\(stream).\(token)-delete", payload: Array(payload.utf8))
                try await js.purgeStream(stream, subject: "\(stream).\(token)-put")
            }
            try await v3Put("a", #"{"n":1}"#, 1_700_000_000_000)
            try await v3Put("a", #"{"n":2}"#, 1_700_000_000_001)
            try await v3Put("b", #"{"n":3}"#, 1_700_000_000_002)
            try await v3Put("c", #"{"n":4}"#, 1_700_000_000_003)
            try await v3Delete("c", 1_700_000_000_004)
            _ = try await transport.request(
                "\(stream).bm90LWpzb24=-put", payload: Array("not json".utf8), timeout: .seconds(2))

            let eventbase = try await builder(server, stream).build()
            #expect(try await eventbase.get("a")?.data == ["n": 2, "id": "a"])
            #expect(try await eventbase.get("b")?.data == ["n": 3, "id": "b"])
            #expect(try await eventbase.get("c") == nil)
            #expect(eventbase.invalidEntryCount == 1)
            // Live: a v3 write after opening arrives too, and so does its tombstone.
            try await v3Put("d", #"{"n":5}"#, 1_700_000_000_005)
            try await eventually(eventbase, "the live v3 put arrives") {
                try await eventbase.get("d")?.data == ["n": 5, "id": "d"]
            }
            try await v3Delete("b", 1_700_000_000_006)
            try await eventually(eventbase, "the live v3 delete arrives") { try await eventbase.get("b") == nil }
            // A replica that opens when the stream's newest messages were purged still becomes ready.
            try await js.purgeStream(stream, subject: "\(stream).\(Data("d".utf8).base64EncodedString())-put")
            let late = try await builder(server, stream).build()
            #expect(try await late.get("d") == nil)
            #expect(try await late.get("a") != nil)
            await late.close()
            try await eventbase.deleteStream()
        }
    }

    @Test func aDuplicateMessageIDIsStoredOnce() async throws {
        try await withJetStream { _, transport in
            let stream = uniqueName("dedupe")
            let js = JetStreamContext(transport: transport)
            _ = try await js.createStream(JetStreamStreamOptions().streamConfig(name: stream))
            let options = JetStreamPublishOptions(messageID: "same")
            let first = try await js.publish("\(stream).a", payload: [1], options: options)
            let second = try await js.publish("\(stream).a", payload: [2], options: options)
            #expect(!first.duplicate)
            #expect(second.duplicate)
            #expect(second.sequence == first.sequence)
            #expect(try await js.streamInfo(stream).messages == 1)
            let conflict = await #expect(throws: EventbaseError.self) {
                _ = try await js.publish(
                    "\(stream).a", payload: [3], options: JetStreamPublishOptions(expectedLastSequence: 7))
            }
            #expect(conflict?.code == .conflict)
            #expect((conflict?.cause as? JetStreamAPIError)?.errorCode == 10071)
            try await js.deleteStream(stream)
            let missing = await #expect(throws: EventbaseError.self) { _ = try await js.streamInfo(stream) }
            #expect(missing?.code == .streamNotFound)
        }
    }

    // MARK: Stream lifecycle

    @Test func aStreamDeletedUnderARunningInstanceIsATypedError() async throws {
        try await withJetStream { server, transport in
            let stream = uniqueName("deleted")
            let eventbase = try await builder(server, stream).build()
            _ = try await eventbase.put("k", ["v": 1])
            let changes = eventbase.changes(matching: [:])
            try await JetStreamContext(transport: transport).deleteStream(stream)
            let error = await #expect(throws: EventbaseError.self) {
                try await withTimeout(.seconds(10), "the instance learns the stream is gone") {
                    for try await _ in changes {}
                }
            }
            #expect(error?.code == .streamDeleted)
            let write = await #expect(throws: EventbaseError.self) { _ = try await eventbase.put("k", ["v": 2]) }
            #expect(write?.code == .streamDeleted)
            await eventbase.close()
        }
    }

    @Test func aStreamRecreatedUnderARunningInstanceOrACheckpointIsRebuilt() async throws {
        try await withJetStream { server, transport in
            try await withTCPFaultProxy(to: server.port) { proxy in
                let stream = uniqueName("recreated")
                let store = InMemoryStateStore()
                let js = JetStreamContext(transport: transport)
                let first = try await builder(server, stream, store: store).build()
                for index in 0..<4 { _ = try await first.put("old\(index)", ["v": .number(Double(index))]) }
                await first.close()
                // The running instance reaches the server through the proxy, which cuts it off while the
                // stream is deleted and created again: it learns of it when it reconnects.
                var options = testNATSOptions(server)
                options.servers = [proxy.url]
                let running = try await Eventbase.builder(streamName: stream).stateStore(InMemoryStateStore())
                    .nats(options, stream: testStreamOptions()).build()
                let (changes, continuation) = AsyncStream.makeStream(of: (Change.Kind, String).self)
                let subscription = try await running.subscribe([:]) { key, _, _, change in
                    continuation.yield((change.kind, key))
                }
                proxy.mode = .reset
                try await js.deleteStream(stream)
                _ = try await js.createStream(JetStreamStreamOptions().streamConfig(name: stream))
                let payload = #"{"type":"PUT","id":"new","data":{"v":9},"timestamp":1700000000000}"#
                _ = try await js.publish(
                    "\(stream).\(Data("new".utf8).base64EncodedString())-put", payload: Array(payload.utf8))
                proxy.mode = .pass
                // The running instance never follows the new stream from its old position: every old record
                // leaves, then the new stream's record enters.
                let seen = try await withTimeout(.seconds(20), "the running instance rebuilds") {
                    var seen: [String] = []
                    for await (kind, key) in changes {
                        seen.append("\(kind) \(key)")
                        if key == "new" { break }
                    }
                    return seen
                }
                #expect(seen.count == 5 && seen.last == "entered new")
                #expect(Set(seen.prefix(4)) == ["left old0", "left old1", "left old2", "left old3"])
                #expect(try await running.keys() == ["new"])
                _ = try await running.put("after", ["v": 10])
                #expect(try await running.get("after")?.meta.revision == 2)
                subscription.cancel()
                await running.close()
                // The checkpoint (sequence 4, old incarnation) is past the new stream's last sequence: rebuilt.
                let reopened = try await builder(server, stream, store: store).build()
                #expect(try await reopened.get("old0") == nil)
                #expect(try await reopened.get("new")?.data == ["v": 9, "id": "new"])
                #expect(try await reopened.keys() == ["after", "new"])
                try await reopened.deleteStream()
            }
        }
    }

    @Test func withoutJetStreamOpeningSaysToEnableIt() async throws {
        try await withNATSServer(.init(jetStream: false)) { server in
            let error = await #expect(throws: EventbaseError.self) {
                _ = try await builder(server, uniqueName("nojs")).build()
            }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("Enable JetStream") == true)
        }
    }

    // MARK: Stats

    @Test func statsArriveOnTheStatsSubjectWithTheOriginalFields() async throws {
        try await withJetStream { server, transport in
            let stream = uniqueName("stats")
            let statsStream = stream + "_stats"
            let subscription = try await transport.subscribe(statsStream + ".stats")
            let eventbase = try await builder(server, stream).statsStreamName(statsStream).build()
            _ = try await eventbase.put("k", ["age": 30])
            _ = try await eventbase.get("k")
            _ = try await eventbase.keys("^k")
            _ = try await eventbase.query(["age": ["$gt": 1]])
            _ = try await eventbase.delete("k")
            let stats = try await withTimeout(.seconds(10), "five stats arrive") {
                var stats: [JSONValue] = []
                for try await message in subscription {
                    stats.append(try JSONValue(jsonBytes: message.payload))
                    if stats.count == 5 { break }
                }
                return stats
            }
            #expect(stats.map { $0["operation"]?.stringValue } == ["PUT", "GET", "KEYS", "QUERY", "DELETE"])
            #expect(stats[0]["id"] == "k")
            #expect(stats[2]["pattern"] == "^k")
            #expect(stats[3]["query"] == ["age": ["$gt": 1]])
            #expect(stats[3]["queryResultCount"] == 1)
            #expect(stats.allSatisfy { $0["timestamp"]?.doubleValue != nil && $0["duration"]?.doubleValue != nil })
            let info = try await JetStreamContext(transport: transport).streamInfo(statsStream)
            #expect(info.config.subjects == [statsStream + ".*"])
            await subscription.unsubscribe()
            try await eventbase.deleteStream()
        }
    }

    // MARK: Outages

    @Test func whileTheServerIsDownWritesFailInTimeReadsAnswerAndItCatchesUpAfter() async throws {
        try await withNATSServer { server in
            let stream = uniqueName("outage")
            let eventbase = try await builder(server, stream).configure { $0.writeTimeout = .seconds(2) }.build()
            // Retried until applied: with the server up, a short write timeout can still pass on a
            // machine busy with other tests.
            func putRetrying(_ key: String, _ value: JSONValue, _ what: String) async throws -> Record<JSONValue> {
                try await withTimeout(.seconds(20), what) {
                    while true {
                        do {
                            return try await eventbase.put(key, value)
                        } catch let error as EventbaseError where error.code == .timeout || error.code == .unavailable {
                            continue
                        }
                    }
                }
            }
            _ = try await putRetrying("before", ["v": 1], "the first write")
            await server.stop()
            let started = ContinuousClock.now
            let error = await #expect(throws: EventbaseError.self) { _ = try await eventbase.put("during", ["v": 2]) }
            #expect(error?.code == .timeout || error?.code == .unavailable)
            #expect(ContinuousClock.now - started < .seconds(4))
            #expect(try await eventbase.get("before")?.data["v"] == 1)
            try await server.startAgain()
            // Another instance writes after the restart; the first one catches up and writes again.
            let other = try await builder(server, stream).build()
            _ = try await other.put("after", ["v": 3])
            try await eventually(eventbase, timeout: .seconds(20), "the instance catches up") {
                try await eventbase.get("after") != nil
            }
            let written = try await putRetrying("again", ["v": 4], "writes work again")
            #expect(written.data["v"] == 4)
            try await eventually(other, "the other instance sees it") { try await other.get("again") != nil }
            await other.close()
            try await eventbase.deleteStream()
        }
    }
}

@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(1)))
struct NATSConvenienceTests {
    @Test func theManagerOpensStreamsOnNATSWithStatsStreams() async throws {
        try await withJetStream { server, transport in
            let seen = Mutex<[String]>([])
            let manager = EventbaseManager(
                nats: testNATSOptions(server), keepAlive: .seconds(60), cleanupInterval: .seconds(60),
                statsStreamName: { "\($0)_stats" },
                onMessage: { entry in seen.withLock { $0.append(entry.event?.key ?? "?") } })
            let users = try await manager.stream("users")
            #expect(try await manager.stream("users") === users)
            _ = try await users.put("u1", ["name": "Ann"])
            let js = JetStreamContext(transport: transport)
            #expect(try await js.streamInfo("users").messages == 1)
            #expect(try await js.streamInfo("users_stats").config.subjects == ["users_stats.*"])
            #expect(seen.withLock { $0 } == ["u1"])
            await manager.closeAll()
            try await js.deleteStream("users")
            try await js.deleteStream("users_stats")
        }
    }

    @Test func aStatsStreamNameNeedsABackendThatPublishesStats() async throws {
        let error = await #expect(throws: EventbaseError.self) {
            _ = try await Eventbase.builder(streamName: "s").inMemory().statsStreamName("s_stats").build()
        }
        #expect(error?.code == .invalidArgument)
    }
}

@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(1)))
struct JetStreamContextIntegrationTests {
    @Test func streamsMessagesAndDirectGetsAgainstARealServer() async throws {
        try await withJetStream { _, transport in
            let js = JetStreamContext(transport: transport, requestTimeout: .seconds(2))
            let name = "ctx_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased()
            let created = try await js.createStreamIfMissing(JetStreamStreamOptions().streamConfig(name: name))
            #expect(created.config.allowDirect)
            #expect(
                try await js.createStreamIfMissing(JetStreamStreamOptions().streamConfig(name: name)).created
                    == created.created)
            var headers = MessageHeaders(fields: [])
            headers["X-Test"] = "1"
            _ = try await js.publish("\(name).a", payload: Array("one".utf8), headers: headers)
            let second = try await js.publish("\(name).a", payload: Array("two".utf8))
            _ = try await js.publish("\(name).b", payload: Array("three".utf8))
            for direct in [false, true] {
                let last = try #require(try await js.lastMessage(stream: name, subject: "\(name).a", direct: direct))
                #expect(last.sequence == second.sequence && last.payload == Array("two".utf8) && last.time != nil)
                let first = try #require(try await js.message(stream: name, sequence: 1, direct: direct))
                #expect(first.subject == "\(name).a" && first.headers?["X-Test"] == "1")
                let next = try await js.message(stream: name, sequence: 3, nextOnSubject: "\(name).*", direct: direct)
                #expect(next?.payload == Array("three".utf8))
                #expect(
                    try await js.message(stream: name, sequence: 99, nextOnSubject: "\(name).*", direct: direct) == nil)
            }
            #expect(try await js.accountInfo().streams >= 1)
            var config = JetStreamStreamOptions().streamConfig(name: name)
            config.maxMessagesPerSubject = 5
            #expect(try await js.updateStream(config).config.maxMessagesPerSubject == 5)
            #expect(try await js.purgeStream(name, subject: "\(name).a", keep: 1) == 1)
            #expect(try await js.streamInfo(name).messages == 2)
            try await js.deleteStream(name)
        }
    }
}
