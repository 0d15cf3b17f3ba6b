import EventbaseCore
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

@testable import EventbaseJetStream

/// A scripted JetStream server for one stream `s`.
final class FakeJetStream: Sendable {
    struct State {
        var lastSequence: UInt64 = 0
        var pendingOnCreate: [UInt64] = []
        var consumers = 0
        var streamExists = true
        var nextExisting: UInt64?
        var publishReply: TransportMessage?
    }

    let state: Mutex<State>
    let stream = "s"

    init(lastSequence: UInt64, pendingOnCreate: [UInt64] = [], readBufferSize: Int = 16_384) {
        state = Mutex(State(lastSequence: lastSequence, pendingOnCreate: pendingOnCreate))
    }

    func answer(_ subject: String, _ payload: [UInt8]) throws -> TransportMessage {
        try state.withLock { state in
            switch subject {
            case "$JS.API.STREAM.INFO.s", "$JS.API.STREAM.CREATE.s":
                guard state.streamExists else {
                    return ScriptedJetStream.error(code: 404, errorCode: 10059, "stream not found")
                }
                return ScriptedJetStream.streamInfo("s", lastSequence: state.lastSequence)
            case "$JS.API.CONSUMER.CREATE.s":
                guard state.streamExists else {
                    return ScriptedJetStream.error(code: 404, errorCode: 10059, "stream not found")
                }
                state.consumers += 1
                let pending = state.pendingOnCreate.isEmpty ? 0 : state.pendingOnCreate.removeFirst()
                return ScriptedJetStream.consumer("c\(state.consumers)", pending: pending)
            case "$JS.API.STREAM.MSG.GET.s":
                guard let next = state.nextExisting else {
                    return ScriptedJetStream.error(code: 404, errorCode: 10037, "no message found")
                }
                return ScriptedJetStream.reply([
                    "message": [
                        "subject": "s.YQ==-put", "seq": .number(Double(next)), "data": "e30=",
                        "time": "2024-05-01T12:00:00Z",
                    ]
                ])
            default:
                if let reply = state.publishReply { return reply }
                throw EventbaseError(.noResponders, "no responders for \(subject)")
            }
        }
    }
}

/// A log on a scripted transport, with a manual clock.
struct Harness {
    let server: FakeJetStream
    let transport: ScriptedTransport
    let clock = ManualClock()
    let log: JetStreamEventLog
    let heartbeat: Duration = .seconds(1)

    init(lastSequence: UInt64, pendingOnCreate: [UInt64] = [], readBufferSize: Int = 16_384) {
        let server = FakeJetStream(lastSequence: lastSequence, pendingOnCreate: pendingOnCreate)
        self.server = server
        transport = ScriptedTransport { subject, payload in try server.answer(subject, payload) }
        log = JetStreamEventLog(
            streamName: "s", transport: transport,
            options: JetStreamStreamOptions(
                requestTimeout: .seconds(1), idleHeartbeat: heartbeat, readBufferSize: readBufferSize),
            clock: clock)
    }

    /// The `n`th consumer-create request (1-based), once sent: its start sequence and deliver subject.
    func consumerCreated(_ number: Int) async throws -> (start: UInt64, deliverSubject: String) {
        let creates = try await within("consumer \(number) is created") {
            await transport.waitForSent("$JS.API.CONSUMER.CREATE.s", count: number)
        }
        let config = try #require(creates[number - 1].json?["config"])
        let start = UInt64(try #require(config["opt_start_seq"]?.doubleValue))
        return (start, try #require(config["deliver_subject"]?.stringValue))
    }

    func deliver(_ message: TransportMessage, to subject: String) {
        transport.deliver(message, to: subject)
    }

    func event(_ streamSequence: UInt64, consumer: UInt64, pending: UInt64) -> TransportMessage {
        ScriptedJetStream.event(
            stream: "s", key: "k\(streamSequence)", streamSequence: streamSequence, consumerSequence: consumer,
            pending: pending)
    }
}

/// Runs `body`, failing after ten seconds.
func within<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withDeadline(.seconds(10), clock: ContinuousClock(), "Timed out: \(what)", operation: body)
}

/// Reads batches until `done`, failing after ten seconds.
func collect(
    _ entries: LogEntries, _ what: String, until done: @escaping @Sendable ([LogEntry], UInt64) -> Bool
) async throws -> (entries: [LogEntry], position: UInt64) {
    try await within(what) {
        var collected: [LogEntry] = []
        var position: UInt64 = 0
        for try await batch in entries {
            collected += batch.entries
            position = max(position, batch.position)
            if done(collected, position) { return (collected, position) }
        }
        throw EventbaseError(.closed, "The entries ended: \(what)")
    }
}

@Suite struct OrderedConsumerTests {
    @Test func replaysInOrderAndRecreatesTheConsumerAfterAGapWithoutRepeatsOrSkips() async throws {
        let harness = Harness(lastSequence: 3, pendingOnCreate: [3, 1])
        let entries = harness.log.entries(from: 1)
        let first = try await harness.consumerCreated(1)
        #expect(first.start == 1)
        harness.deliver(harness.event(1, consumer: 1, pending: 2), to: first.deliverSubject)
        harness.deliver(harness.event(2, consumer: 2, pending: 1), to: first.deliverSubject)
        // Consumer sequence 3 was lost: 4 arrives.
        harness.deliver(harness.event(3, consumer: 4, pending: 0), to: first.deliverSubject)
        let second = try await harness.consumerCreated(2)
        #expect(second.start == 3)
        #expect(!harness.transport.isSubscribed(first.deliverSubject))
        harness.deliver(harness.event(3, consumer: 1, pending: 0), to: second.deliverSubject)
        let read = try await collect(entries, "three entries") { collected, _ in collected.count >= 3 }
        #expect(read.entries.map(\.sequence) == [1, 2, 3])
        #expect(read.entries.map { $0.event?.key } == ["k1", "k2", "k3"])
        #expect(read.entries[0].time == Date(millisecondsSince1970: 1_714_564_800_123))
        await harness.log.close()
        #expect(!harness.transport.isSubscribed(second.deliverSubject))
    }

    @Test func missedHeartbeatsRecreateTheConsumerFromTheNextSequence() async throws {
        let harness = Harness(lastSequence: 1, pendingOnCreate: [1, 0])
        let entries = harness.log.entries(from: 1)
        let first = try await harness.consumerCreated(1)
        harness.deliver(harness.event(1, consumer: 1, pending: 0), to: first.deliverSubject)
        _ = try await collect(entries, "the first entry") { collected, _ in collected.count == 1 }
        for _ in 0..<3 {
            await harness.clock.waitForSleepers(1)
            harness.clock.advance(by: harness.heartbeat)
        }
        let second = try await harness.consumerCreated(2)
        #expect(second.start == 2)
        await harness.log.close()
    }

    @Test func aReaderHeldBackByItsConsumerKeepsItsConsumer() async throws {
        let harness = Harness(lastSequence: 3, pendingOnCreate: [3], readBufferSize: 1)
        let entries = harness.log.entries(from: 1)
        let consumer = try await harness.consumerCreated(1)
        for sequence in 1...3 {
            harness.deliver(
                harness.event(UInt64(sequence), consumer: UInt64(sequence), pending: UInt64(3 - sequence)),
                to: consumer.deliverSubject)
        }
        let first = try await collect(entries, "the first entry") { collected, _ in !collected.isEmpty }
        // Then nobody reads the entries for longer than the missed-heartbeat limit.
        for _ in 0..<4 {
            await harness.clock.waitForSleepers(1)
            harness.clock.advance(by: harness.heartbeat)
        }
        let rest = try await collect(entries, "the other entries") { collected, _ in
            first.entries.count + collected.count == 3
        }
        #expect((first.entries + rest.entries).map(\.sequence) == [1, 2, 3])
        #expect(harness.transport.sent("$JS.API.CONSUMER.CREATE.s").count == 1)
        await harness.log.close()
    }

    @Test func heartbeatsThatAgreeKeepTheConsumerAndOneThatDisagreesRecreatesIt() async throws {
        let harness = Harness(lastSequence: 1, pendingOnCreate: [1, 0])
        let entries = harness.log.entries(from: 1)
        let first = try await harness.consumerCreated(1)
        harness.deliver(harness.event(1, consumer: 1, pending: 0), to: first.deliverSubject)
        for _ in 0..<3 {
            harness.deliver(ScriptedJetStream.heartbeat(lastConsumer: 1, lastStream: 1), to: first.deliverSubject)
        }
        // The server says it sent consumer sequence 5; only 1 arrived.
        harness.deliver(ScriptedJetStream.heartbeat(lastConsumer: 5, lastStream: 9), to: first.deliverSubject)
        let second = try await harness.consumerCreated(2)
        #expect(second.start == 2)
        let read = try await collect(entries, "the first entry") { collected, _ in collected.count == 1 }
        #expect(read.entries.map(\.sequence) == [1])
        #expect(harness.transport.sent("$JS.API.CONSUMER.CREATE.s").count == 2)
        await harness.log.close()
    }

    @Test func aConsumerTheServerEndsAtOnceIsRecreatedAfterADelay() async throws {
        let harness = Harness(lastSequence: 0)
        let entries = harness.log.entries(from: 1)
        let first = try await harness.consumerCreated(1)
        let deleted = TransportMessage(
            subject: first.deliverSubject, headers: MessageHeaders(status: 409, statusDescription: "Consumer Deleted"),
            payload: [])
        harness.deliver(deleted, to: first.deliverSubject)
        // The ticker and the retry delay sleep on the clock; nothing is recreated until the delay passes.
        await harness.clock.waitForSleepers(2)
        #expect(harness.transport.sent("$JS.API.CONSUMER.CREATE.s").count == 1)
        harness.clock.advance(by: .milliseconds(50))
        let second = try await harness.consumerCreated(2)
        #expect(second.start == 1)
        await harness.log.close()
        for try await _ in entries {}
    }

    @Test func aReconnectRecreatesTheConsumer() async throws {
        let harness = Harness(lastSequence: 0)
        let entries = harness.log.entries(from: 1)
        _ = try await harness.consumerCreated(1)
        harness.transport.announce(.disconnected(error: nil))
        harness.transport.announce(.reconnected(server: "nats://x"))
        let second = try await harness.consumerCreated(2)
        #expect(second.start == 1)
        await harness.log.close()
        for try await _ in entries {}
    }

    @Test func droppingTheEntriesStopsTheReader() async throws {
        let harness = Harness(lastSequence: 0)
        var entries: LogEntries? = harness.log.entries(from: 1)
        let consumer = try await harness.consumerCreated(1)
        #expect(harness.transport.isSubscribed(consumer.deliverSubject))
        entries = nil
        #expect(entries == nil)
        _ = try await within("the reader unsubscribes") {
            await harness.transport.waitForSent("UNSUB " + consumer.deliverSubject)
        }
        #expect(!harness.transport.isSubscribed(consumer.deliverSubject))
        await harness.log.close()
    }

    @Test func flowControlRequestsAndStalledHeartbeatsAreAnswered() async throws {
        let harness = Harness(lastSequence: 0)
        let entries = harness.log.entries(from: 1)
        let first = try await harness.consumerCreated(1)
        let request = TransportMessage(
            subject: first.deliverSubject, replyTo: "$JS.FC.s.c1.1",
            headers: MessageHeaders(status: 100, statusDescription: "FlowControl Request"), payload: [])
        harness.deliver(request, to: first.deliverSubject)
        harness.deliver(
            ScriptedJetStream.heartbeat(lastConsumer: 0, lastStream: 0, stalled: "$JS.FC.s.c1.2"),
            to: first.deliverSubject)
        let replies = try await within("flow control is answered") {
            await harness.transport.waitForSent("$JS.FC.", count: 2)
        }
        #expect(replies.map(\.subject) == ["$JS.FC.s.c1.1", "$JS.FC.s.c1.2"])
        #expect(replies.allSatisfy { $0.payload.isEmpty && !$0.isRequest })
        await harness.log.close()
        for try await _ in entries {}
    }

    @Test func positionCoversAStreamWhoseTailWasPurged() async throws {
        // Messages 1...10 were stored; none is left.
        let empty = Harness(lastSequence: 10, pendingOnCreate: [0])
        let read = try await collect(empty.log.entries(from: 1), "position 10") { _, position in position >= 10 }
        #expect(read.entries.isEmpty)
        await empty.log.close()

        // 7 and 8 are left of 1...10: the last one says nothing is pending.
        let tail = Harness(lastSequence: 10, pendingOnCreate: [2])
        let entries = tail.log.entries(from: 1)
        let consumer = try await tail.consumerCreated(1)
        tail.deliver(tail.event(7, consumer: 1, pending: 1), to: consumer.deliverSubject)
        tail.deliver(tail.event(8, consumer: 2, pending: 0), to: consumer.deliverSubject)
        let tailRead = try await collect(entries, "position 10") { _, position in position >= 10 }
        #expect(tailRead.entries.map(\.sequence) == [7, 8])
        await tail.log.close()
    }

    @Test func anIdleReaderShortOfTheLastSequenceProbesWhatIsLeft() async throws {
        // The server counted 8 as pending though 8...10 are gone by the time it is idle: the probe
        // (stream info, then the next message at or after 8) finds nothing, so the position is 10.
        let harness = Harness(lastSequence: 10, pendingOnCreate: [2])
        let entries = harness.log.entries(from: 1)
        let consumer = try await harness.consumerCreated(1)
        harness.deliver(harness.event(7, consumer: 1, pending: 1), to: consumer.deliverSubject)
        _ = try await collect(entries, "entry 7") { collected, _ in collected.count == 1 }
        // Idle: the server's heartbeat agrees, and the reader is short of the last sequence.
        harness.deliver(ScriptedJetStream.heartbeat(lastConsumer: 1, lastStream: 7), to: consumer.deliverSubject)
        let read = try await collect(entries, "position 10") { _, position in position >= 10 }
        #expect(read.entries.isEmpty)
        let probe = try #require(harness.transport.sent("$JS.API.STREAM.MSG.GET.s").first?.json)
        #expect(probe["seq"] == 8)
        #expect(probe["next_by_subj"] == "s.*")
        await harness.log.close()
    }

    @Test func aDeletedStreamEndsReadersWithStreamDeleted() async throws {
        let harness = Harness(lastSequence: 0)
        _ = try await harness.log.open()
        let entries = harness.log.entries(from: 1)
        _ = try await harness.consumerCreated(1)
        harness.server.state.withLock { $0.streamExists = false }
        harness.deliver(
            TransportMessage(subject: "$JS.EVENT.ADVISORY.STREAM.DELETED.s", payload: Array("{}".utf8)),
            to: "$JS.EVENT.ADVISORY.STREAM.DELETED.s")
        let error = await #expect(throws: EventbaseError.self) {
            try await within("the reader fails") { for try await _ in entries {} }
        }
        #expect(error?.code == .streamDeleted)
        await harness.log.close()
    }

    @Test func undecodableMessagesBecomeInvalidEntriesAndReadingGoesOn() async throws {
        let harness = Harness(lastSequence: 2, pendingOnCreate: [2])
        let entries = harness.log.entries(from: 1)
        let consumer = try await harness.consumerCreated(1)
        harness.deliver(
            TransportMessage(
                subject: "s.YQ==-put", replyTo: "$JS.ACK.s.c1.1.1.1.1714564800123456789.1", payload: Array("{oops".utf8)
            ),
            to: consumer.deliverSubject)
        harness.deliver(harness.event(2, consumer: 2, pending: 0), to: consumer.deliverSubject)
        let read = try await collect(entries, "two entries") { collected, _ in collected.count == 2 }
        guard case .invalid(let subject, _, _) = read.entries[0].payload else {
            Issue.record("the malformed message was not an invalid entry")
            return
        }
        #expect(subject == "s.YQ==-put")
        #expect(read.entries[1].event?.key == "k2")
        await harness.log.close()
    }
}

@Suite struct OrderedConsumerStateTests {
    @Test func parsesBothAckSubjectForms() throws {
        let old = try #require(AckMetadata("$JS.ACK.orders.c1.1.42.7.1714564800123456789.3"))
        #expect(old.stream == "orders" && old.consumer == "c1")
        #expect(old.streamSequence == 42 && old.consumerSequence == 7 && old.pending == 3)
        #expect(old.time == Date(millisecondsSince1970: 1_714_564_800_123))
        let new = try #require(AckMetadata("$JS.ACK.hub.ACCHASH.orders.c1.2.42.7.1714564800123456789.0.xyz"))
        #expect(new.stream == "orders" && new.deliveredCount == 2 && new.streamSequence == 42 && new.pending == 0)
        #expect(AckMetadata("$JS.ACK.orders.c1.1.x.7.1.3") == nil)
        // A number one past UInt64.max overflows in the last addition: rejected, not a trap.
        #expect(AckMetadata("$JS.ACK.orders.c1.1.18446744073709551616.7.1.3") == nil)
        #expect(AckMetadata("$JS.ACK.orders.c1.1.18446744073709551619.7.1.3") == nil)
        #expect(AckMetadata("$JS.ACK.orders.c1.1.18446744073709551615.7.1.3")?.streamSequence == .max)
        #expect(AckMetadata("_INBOX.abc") == nil)
    }

    @Test func aGapAsksForANewConsumerFromTheLastDeliveredSequence() {
        var state = OrderedConsumerState(start: 5)
        let read = state.streamRead(lastSequence: 9)
        #expect(read)
        state.consumerCreated(pending: 5)
        let message = ScriptedJetStream.event(stream: "s", key: "a", streamSequence: 5, consumerSequence: 1, pending: 4)
        let delivered = state.receive(message)
        #expect(delivered == .deliver(sequence: 5, time: Date(millisecondsSince1970: 1_714_564_800_123)))
        let skipped = ScriptedJetStream.event(stream: "s", key: "a", streamSequence: 7, consumerSequence: 3, pending: 2)
        let gap = state.receive(skipped)
        #expect(gap == .reset(.gap(expected: 2, received: 3)))
        #expect(state.nextStart == 6)
        #expect(state.position == 5)
    }

    @Test func aReplicatedStreamsPendingCountDoesNotSkipToTheKnownLastSequence() {
        // A consumer of a replicated stream counts pending messages in its own server's copy, which
        // can lag the leader that answered the stream read: only a probe may skip what is missing.
        var replicated = OrderedConsumerState(start: 1)
        _ = replicated.streamRead(lastSequence: 10, replicas: 3)
        replicated.consumerCreated(pending: 0)
        #expect(replicated.position == 0)
        let first = ScriptedJetStream.event(stream: "s", key: "a", streamSequence: 1, consumerSequence: 1, pending: 0)
        _ = replicated.receive(first)
        #expect(replicated.position == 1)
        replicated.probed(lastSequence: 10, nextExisting: 6)
        #expect(replicated.position == 5)
        // On one server the count is the stream's own: a purged tail is skipped at once.
        var single = OrderedConsumerState(start: 1)
        _ = single.streamRead(lastSequence: 10, replicas: 1)
        single.consumerCreated(pending: 0)
        #expect(single.position == 10)
    }

    @Test func probesOnlyTrustWhatExists() {
        var state = OrderedConsumerState(start: 1)
        _ = state.streamRead(lastSequence: 10)
        state.consumerCreated(pending: 3)
        state.probed(lastSequence: 12, nextExisting: 4)
        #expect(state.position == 3)
        #expect(state.knownLastSequence == 10)
        state.probed(lastSequence: 12, nextExisting: nil)
        #expect(state.position == 12)
        let backwards = state.streamRead(lastSequence: 9)
        #expect(!backwards)
    }
}
