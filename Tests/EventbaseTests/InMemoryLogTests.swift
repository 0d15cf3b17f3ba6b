import EventbaseCore
import EventbaseMemory
import EventbaseTestKit
import Foundation
import Testing

/// The in-memory log's own behaviour, beyond the EventLog conformance suite.
@Suite struct InMemoryLogTests {
    /// What a replica reading JetStream gets for `event`: its wire form, decoded.
    private func overTheWire(_ event: Event, stream: String) -> LogEntry.Payload {
        EventCodec.entry(
            sequence: 1, time: Date(timeIntervalSince1970: 0),
            subject: EventCodec.subject(stream: stream, key: event.key, kind: event.kind), stream: stream,
            payload: EventCodec.encodePayload(event),
            header: { name in EventCodec.headers(for: event).first { $0.name == name }?.value }
        ).payload
    }

    /// Whether two payloads are the same, numbers compared bit for bit (so -0 is not 0).
    private func identical(_ left: LogEntry.Payload, _ right: LogEntry.Payload) -> Bool {
        switch (left, right) {
        case (.event(let a), .event(let b)):
            return a.kind == b.kind && a.key == b.key && a.timestamp == b.timestamp && a.eventID == b.eventID
                && a.changes == b.changes && a.dateCreated == b.dateCreated
                && identical(a.data, b.data) && identical(.object(a.extraFields), .object(b.extraFields))
        case (.invalid(let subjectA, _, let kindA), .invalid(let subjectB, _, let kindB)):
            return subjectA == subjectB && kindA == kindB
        default:
            return false
        }
    }

    private func identical(_ left: JSONValue?, _ right: JSONValue?) -> Bool {
        switch (left, right) {
        case (nil, nil): return true
        case (.number(let a)?, .number(let b)?): return a.bitPattern == b.bitPattern
        case (.array(let a)?, .array(let b)?):
            return a.count == b.count && zip(a, b).allSatisfy { identical($0, $1) }
        case (.object(let a)?, .object(let b)?):
            return Array(a.keys) == Array(b.keys) && a.keys.allSatisfy { identical(a[$0], b[$0]) }
        case (let a?, let b?): return a == b
        default: return false
        }
    }

    private func randomValue(depth: Int, using generator: inout SeededGenerator) -> JSONValue {
        switch Int.random(in: 0..<(depth >= 3 ? 5 : 7), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2:
            // Integers, fractions, any bit pattern (NaN, infinities and -0 among them, now and then).
            switch Int.random(in: 0..<5, using: &generator) {
            case 0: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &generator)))
            case 1: return .number(Double.random(in: -1e6...1e6, using: &generator))
            case 2:
                return .number(
                    [-0.0, .nan, .infinity, -.infinity, 1e300, .leastNonzeroMagnitude].randomElement(using: &generator)!
                )
            default: return .number(Double(bitPattern: generator.next()))
            }
        case 3: return .string(["", "a", "é", "e\u{301}", "\u{0}\n\"\\", "日本", "🙂"].randomElement(using: &generator)!)
        case 4: return .string(String(generator.next(), radix: 36))
        case 5:
            return .array(
                (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                    randomValue(depth: depth + 1, using: &generator)
                })
        default:
            var object = JSONObject()
            for index in 0..<Int.random(in: 0...5, using: &generator) {
                let name = ["type", "id", "data", "timestamp", "x\(index)", "é", "e\u{301}"].randomElement(
                    using: &generator)!
                object[name] = randomValue(depth: depth + 1, using: &generator)
            }
            return .object(object)
        }
    }

    private func randomEvent(using generator: inout SeededGenerator) -> Event {
        let kind: Event.Kind = Bool.random(using: &generator) ? .put : .delete
        var extras = JSONObject()
        if Int.random(in: 0..<3, using: &generator) == 0,
            case .object(let object) = randomValue(depth: 1, using: &generator)
        {
            extras = object
        }
        return Event(
            kind: kind,
            key: ["a", "é", "e\u{301}", "k/1", "🙂"].randomElement(using: &generator)!,
            data: Int.random(in: 0..<6, using: &generator) == 0 ? nil : randomValue(depth: 0, using: &generator),
            timestamp: [0, -5, 1_700_000_000_123, 8_999_999_999_999_999, 9_000_000_000_000_001, .max, .min]
                .randomElement(using: &generator)!,
            eventID: Bool.random(using: &generator) ? String(generator.next(), radix: 16) : nil,
            changes: [nil, 0, -3, 1, 42].randomElement(using: &generator)!,
            dateCreated: [nil, 0, 1_700_000_000_000].randomElement(using: &generator)!,
            extraFields: extras)
    }

    /// Appends build their entries without the JSON round trip; what replicas read must be what the
    /// round trip would give, including where it changes the event (-0, NaN, reserved extra
    /// fields, change counts below 1, timestamps JSON cannot carry).
    @Test(arguments: [1, 2, 3] as [UInt64])
    func appendedEventsReadExactlyAsTheirWireFormDecoded(seed: UInt64) async throws {
        var generator = SeededGenerator(seed: seed)
        let server = InMemoryLogServer()
        let log = InMemoryEventLog(streamName: "wire", server: server)
        _ = try await log.open()
        var events: [Event] = []
        for _ in 0..<400 {
            var event = randomEvent(using: &generator)
            event.eventID = nil  // Every append stored, none de-duplicated.
            events.append(event)
            _ = try await log.append(event, condition: nil)
        }
        let entries = server.entries(of: "wire")
        #expect(entries.count == events.count)
        for (event, entry) in zip(events, entries) {
            let expected = overTheWire(event, stream: "wire")
            #expect(identical(entry.payload, expected), "\(event) read as \(entry.payload), expected \(expected)")
        }
        await log.close()
    }

    @Test func deepDocumentsReadAsTheirWireFormDecoded() async throws {
        let server = InMemoryLogServer()
        let log = InMemoryEventLog(streamName: "deep", server: server)
        _ = try await log.open()
        var events: [Event] = []
        for depth in [1, 125, 126, 127, 128, 129] {
            var value: JSONValue = ["leaf": true]
            for _ in 1..<depth { value = ["next": value] }
            let event = Event(kind: .put, key: "d\(depth)", data: value, timestamp: 1)
            events.append(event)
            _ = try await log.append(event, condition: nil)
        }
        for (event, entry) in zip(events, server.entries(of: "deep")) {
            #expect(identical(entry.payload, overTheWire(event, stream: "deep")), "depth of \(event.key)")
        }
        // The deepest documents do not pass the replicas' limits, as over the wire.
        #expect(server.entries(of: "deep").last?.event == nil)
        await log.close()
    }

    /// A reader that was busy gets everything appended meanwhile in one batch.
    @Test func aReaderGetsEverythingAppendedSinceItsLastBatchInOneBatch() async throws {
        let log = InMemoryEventLog(streamName: "batches")
        _ = try await log.open()
        for index in 0..<10 {
            _ = try await log.append(Event(kind: .put, key: "k\(index)", data: [:], timestamp: 1), condition: nil)
        }
        var iterator = log.entries(from: 1).makeAsyncIterator()
        let first = try await iterator.next()
        #expect(first?.entries.map(\.sequence) == Array(1...10))
        #expect(first?.position == 10)
        for index in 10..<15 {
            _ = try await log.append(Event(kind: .put, key: "k\(index)", data: [:], timestamp: 1), condition: nil)
        }
        let second = try await iterator.next()
        #expect(second?.entries.map(\.sequence) == Array(11...15))
        #expect(second?.position == 15)
        // A put purged before it was read still moves the position.
        let last = try await log.append(Event(kind: .put, key: "k0", data: [:], timestamp: 1), condition: nil)
        #expect(try await log.purgePuts(of: "k0", before: last.sequence + 1) == 2)
        let third = try await iterator.next()
        #expect(third?.entries.isEmpty == true)
        #expect(third?.position == 16)
        await log.close()
        #expect(try await iterator.next() == nil)
    }

    /// Purging a long prefix drops whole chunks of slots; reading, appending and counting go on.
    @Test func aLongPurgedPrefixIsDroppedAndReadingGoesOn() async throws {
        let server = InMemoryLogServer()
        let log = InMemoryEventLog(streamName: "prefix", server: server)
        _ = try await log.open()
        for index in 0..<9_000 {
            _ = try await log.append(Event(kind: .put, key: "k\(index % 3)", data: [:], timestamp: 1), condition: nil)
        }
        for key in ["k0", "k1", "k2"] { _ = try await log.purgePuts(of: key, before: 8_990) }
        #expect(server.entries(of: "prefix").map(\.sequence) == Array(8_990...9_000))
        #expect(try await log.state().messageCount == 11)
        for start in [1, 5_000, 8_995] as [UInt64] {
            var iterator = log.entries(from: start).makeAsyncIterator()
            let batch = try await iterator.next()
            #expect(batch?.entries.map(\.sequence) == Array(max(start, 8_990)...9_000), "from \(start)")
            #expect(batch?.position == 9_000)
        }
        var iterator = log.entries(from: 1).makeAsyncIterator()
        _ = try await iterator.next()
        let next = try await log.append(
            Event(kind: .put, key: "k0", data: [:], timestamp: 1), condition: .keyRevision(8_998))
        #expect(next.sequence == 9_001)
        #expect(try await iterator.next()?.entries.map(\.sequence) == [9_001])
        await log.close()
    }

    /// A reader waiting for appends ends when its task is cancelled, and when its log closes.
    @Test(.timeLimit(.minutes(1)))
    func aWaitingReaderEndsOnCancellationAndOnClose() async throws {
        let server = InMemoryLogServer()
        let log = InMemoryEventLog(streamName: "waiting", server: server)
        _ = try await log.open()
        let entries = log.entries(from: 1)
        let (firstBatch, signal) = AsyncStream.makeStream(of: Void.self)
        let reading = Task {
            var batches = 0
            for try await _ in entries {
                batches += 1
                signal.yield()
            }
            return batches
        }
        // The first batch (empty, as the stream is) comes at once; then the reader waits.
        for await _ in firstBatch { break }
        reading.cancel()
        #expect(try await reading.value == 1)

        var iterator = log.entries(from: 2).makeAsyncIterator()
        _ = try await iterator.next()
        let waiting = Task { try await iterator.next() }
        await log.close()
        #expect(try await waiting.value == nil)
    }

    /// The last `window` event ids are always remembered, ids older than twice the window never.
    @Test func deduplicationRemembersTheWindowAndForgetsWhatIsOlderThanTwiceIt() async throws {
        let window = 4
        let log = InMemoryEventLog(streamName: "dedup", server: InMemoryLogServer(deduplicationWindow: window))
        _ = try await log.open()
        func event(_ index: Int) -> Event {
            Event(kind: .put, key: "k\(index)", data: [:], timestamp: 1, eventID: "id-\(index)")
        }
        for index in 1...10 {
            let ack = try await log.append(event(index), condition: nil)
            #expect(ack.sequence == UInt64(index) && !ack.duplicate)
            // Every id of the last `window` appends, this one included, is a duplicate now.
            for recent in max(1, index - window + 1)...index {
                let again = try await log.append(event(recent), condition: nil)
                #expect(again.duplicate && again.sequence == UInt64(recent), "id \(recent) after \(index) appends")
            }
        }
        for old in 1...2 {
            let again = try await log.append(event(old), condition: nil)
            #expect(!again.duplicate, "id \(old) is older than twice the window")
        }
        await log.close()
    }

    /// Keys and event ids are compared byte for byte, as JetStream compares subjects and message ids.
    @Test func canonicallyEquivalentKeysAndEventIDsStayDistinct() async throws {
        let log = InMemoryEventLog(streamName: "bytes")
        _ = try await log.open()
        let composed = try await log.append(
            Event(kind: .put, key: "é", data: [:], timestamp: 1, eventID: "é"), condition: .keyAbsent)
        let decomposed = try await log.append(
            Event(kind: .put, key: "e\u{301}", data: [:], timestamp: 1, eventID: "e\u{301}"), condition: .keyAbsent)
        #expect(!decomposed.duplicate && decomposed.sequence == composed.sequence + 1)
        #expect(try await log.purgePuts(of: "e\u{301}", before: decomposed.sequence + 1) == 1)
        #expect(try await log.state().messageCount == 1)
        await log.close()
    }
}
