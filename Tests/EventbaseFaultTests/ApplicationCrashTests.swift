import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The application process itself SIGKILLed: `eventbase-fault-child` (Tests/FaultChild) writes with a
/// ``FileStateStore`` and prints each acknowledged write; the test kills it mid-load and mid-snapshot,
/// restarts it on the same folder, and finally reopens the folder in-process. Every write the child
/// printed must be in the stream, and the reopened replica must equal the independent fold.
@Suite(.enabled(if: ChildProcess.isSupported && NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(2)))
struct ApplicationCrashTests {
    /// What a child printed besides its acknowledged writes.
    final class ChildLines: Sendable {
        private struct State {
            var ready: (sequence: UInt64, records: Int)?
            var snapshots = 0
            var firstAck: Duration?
            var replica: (sequence: UInt64, documents: [String: JSONValue])?
        }
        private let state = Mutex(State())

        /// The applied sequence and record count the child had once open (caught up with the stream).
        var ready: (sequence: UInt64, records: Int)? { state.withLock { $0.ready } }
        /// Snapshots the child reported durable.
        var snapshots: Int { state.withLock { $0.snapshots } }
        /// The replica the child printed when told to stop (SIGUSR1): its applied sequence and documents.
        var replica: (sequence: UInt64, documents: [String: JSONValue])? { state.withLock { $0.replica } }
        /// When (on the history's clock) the child's first acknowledged write was read.
        var firstAck: Duration? { state.withLock { $0.firstAck } }

        /// Reads `child`'s output to its end, recording each acknowledged write in `history`.
        func follow(_ child: ChildProcess, history: FaultHistory) async throws {
            while let line = try await child.nextLine(timeout: .seconds(60)) {
                let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
                switch fields.first {
                case "ack":
                    let fields = line.split(separator: " ").map(String.init)
                    guard fields.count == 5 else { throw ScenarioFailure("bad line from the child: \(line)") }
                    guard let n = Int(fields[3]), let revision = UInt64(fields[4]) else { continue }
                    let index = history.invoke(
                        key: fields[1], value: ["op": .string(fields[2]), "n": .number(Double(n))], opID: fields[2])
                    history.complete(index, outcome: .ok, sequence: revision)
                    let now = history.now
                    state.withLock { $0.firstAck = $0.firstAck ?? now }
                case "ready" where fields.count == 3:
                    state.withLock { $0.ready = (UInt64(fields[1]) ?? 0, Int(fields[2]) ?? 0) }
                case "state" where fields.count == 3:
                    guard let sequence = UInt64(fields[1]),
                        case .object(let object) = try JSONValue(jsonString: fields[2])
                    else { throw ScenarioFailure("bad state from the child: \(line)") }
                    var documents: [String: JSONValue] = [:]
                    for (key, value) in object { documents[key] = value }
                    state.withLock { $0.replica = (sequence, documents) }
                case "snapshot":
                    state.withLock { $0.snapshots += 1 }
                default:
                    throw ScenarioFailure("unexpected line from the child: \(line)")
                }
            }
        }
    }

    /// A new empty folder for the child's file store.
    static func temporaryFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("eventbase-fault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// The files in the stream's snapshot folder.
    static func snapshotFiles(_ directory: String, stream: String) -> [String] {
        let folder = FileStateStore(directory: directory).folder(for: stream)
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { folder + "/" + $0 }
    }

    @Test func anApplicationKilledMidWriteAndMidSnapshotLosesNothingAndItsStoreReopens() async throws {
        let seed = scenarioSeed(61)
        let batch = scenarioLoad(120)
        let stream = "faults_app_kill"
        let directory = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withNATSServer { server in
            let history = FaultHistory()
            var random = SeededGenerator(seed: seed)
            var leftovers = 0
            var caughtUpAt: [UInt64] = []
            var restarts: [Duration] = []
            var killedAt: Duration?
            // Rounds 0 and 1 snapshot every 25 events; rounds 2 to 4 snapshot after every event, with
            // 2-kilobyte values and more keys, so the snapshot writer is always busy and the kill
            // lands while a snapshot is being written (a `.tmp` file left behind shows it did).
            for round in 0..<5 {
                let midSnapshot = round >= 2
                let child = try ChildProcess(
                    .faultChild,
                    [
                        "--server", server.url, "--stream", stream, "--dir", directory, "--prefix", "r\(round)",
                        "--snapshot-every", midSnapshot ? "1" : "25", "--value-bytes", midSnapshot ? "2048" : "0",
                        "--keys", midSnapshot ? "32" : "8",
                    ])
                let lines = ChildLines()
                let follower = Task { try await lines.follow(child, history: history) }
                let target =
                    history.acknowledged + batch / (midSnapshot ? 2 : 1) + Int.random(in: 0..<batch, using: &random)
                do {
                    try await history.waitUntilAcknowledged(target, timeout: .seconds(30), "child \(round) writing")
                } catch {
                    child.send(SIGKILL)
                    _ = try? await follower.value
                    throw ScenarioFailure("\(error); child stderr: \(child.stderrText)")
                }
                if let killedAt, let first = lines.firstAck { restarts.append(first - killedAt) }
                let fault = history.fault(midSnapshot ? "app-sigkill-mid-snapshot" : "app-sigkill")
                killedAt = history.now
                child.send(SIGKILL)
                let output = try await child.waitForExit(timeout: .seconds(10))
                #expect(output.signalled && output.status == SIGKILL, "child \(round) ended \(output.status)")
                try await follower.value
                history.lift(fault)
                caughtUpAt.append(lines.ready?.sequence ?? 0)
                if round > 0 {
                    #expect(lines.ready?.sequence ?? 0 > 0, "child \(round) did not catch up with the earlier rounds")
                }
                #expect(lines.snapshots > 0, "child \(round) wrote no snapshot")
                leftovers += Self.snapshotFiles(directory, stream: stream).count { $0.hasSuffix(".tmp") }
            }

            // A torn newest snapshot (as a filesystem without atomic rename could leave): cut in half.
            let snapshots = Self.snapshotFiles(directory, stream: stream).filter { $0.hasSuffix(".ebsnap") }
            let newest = try #require(snapshots.last)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: newest)[.size] as? Int)
            #expect(truncate(newest, off_t(size / 2)) == 0)
            let damage = history.fault("torn-snapshot")
            history.lift(damage)

            // Reopen the killed application's folder in-process.
            let capture = LogCapture()
            let store = FileStateStore(directory: directory, logger: capture.logger(label: "filestore"))
            let reopened = try await Instance.open(url: server.url, stream: stream, store: store)
            let reader = NATSTransport(faultNATSOptions(server.url))
            let messages: [RawStreamMessage]
            do {
                try await reader.connect()
                messages = try await RawStreamReader.read(stream, over: reader)
                await reader.close()
                try await reopened.waitUntilApplied(messages.last?.sequence ?? 0)
            } catch {
                await reader.close()
                await reopened.close()
                throw error
            }
            let documents = try await reopened.documents()
            await reopened.close()
            let fresh = try await Instance.open(url: server.url, stream: stream)
            let freshDocuments = try await fresh.documents()
            await fresh.close()

            let report = FaultReport(
                scenario: "app-sigkill", seed: seed, history: history, stream: stream, messages: messages,
                replicas: ["reopened-file-store": documents, "fresh": freshDocuments], deadline: operationDeadline)
            report.publish()
            print(
                "FAULT-FIGURES scenario=app-sigkill unfinishedSnapshotsLeft=\(leftovers) caughtUpAtSequences=\(caughtUpAt.map(String.init).joined(separator: ",")) killToFirstAckSeconds=\(restarts.map(seconds).joined(separator: ","))"
            )
            #expect(report.lost.isEmpty, "lost acknowledged writes: \(report.lost.prefix(10))")
            #expect(report.duplicated.isEmpty, "writes stored twice: \(report.duplicated.prefix(10))")
            #expect(report.divergent.isEmpty, "replicas differing from the stream: \(report.divergent)")
            #expect(report.acknowledged >= 3 * batch)
            #expect(
                capture.records.contains { $0.message.hasPrefix("Skipping a snapshot that cannot be used") },
                "the torn snapshot was not skipped: \(capture.text)")
        }
    }

    /// A server that cuts off a client whose output backs up past 1 MiB (`max_pending`) or cannot be
    /// written for a second (`write_deadline`): a slow consumer. Its pings are slow (20 s), so a
    /// paused client is cut off for its backlog, not for missed pongs.
    static let strictServer = NATSServerFixture.Configuration(
        extra: """
            ping_interval: "20s"
            max_pending: 1048576
            write_deadline: "1s"
            """)

    @Test func aPausedApplicationCutOffByTheServerRecoversAndConverges() async throws {
        let seed = scenarioSeed(71)
        let batch = scenarioLoad(100)
        let stream = "faults_app_pause"
        let directory = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withNATSServer(Self.strictServer) { server in
            let history = FaultHistory()
            let child = try ChildProcess(
                .faultChild,
                [
                    "--server", server.url, "--stream", stream, "--dir", directory, "--prefix", "app", "--writers", "2",
                    "--snapshot-every", "50", "--noise-subject", "faults.noise",
                ])
            let lines = ChildLines()
            let follower = Task { try await lines.follow(child, history: history) }
            let flood = try await Instance.open(url: server.url, stream: stream)
            let noise = NATSTransport(faultNATSOptions(server.url))
            let load = WriteLoad(history: history)
            do {
                try await history.waitUntilAcknowledged(batch / 2, timeout: .seconds(30), "the child writing")
                load.start(on: flood.eventbase, writers: 8, seed: seed)
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(30), "the flood writing")
                try await noise.connect()
                let fault = history.fault("app-sigstop")
                child.send(SIGSTOP)
                // The flood of writes goes on, and another client publishes to a subject the child
                // subscribed to (as an application sharing its connection does): the stream's own
                // deliveries are flow-controlled and never pass max_pending, plain messages do. The
                // server must cut the paused child off as a slow consumer.
                let chunk = [UInt8](repeating: UInt8(ascii: "n"), count: 64 * 1024)
                var cutOff: String?
                var noiseBytes = 0
                while cutOff == nil {
                    for _ in 0..<16 { try await noise.publish("faults.noise", payload: chunk) }
                    noiseBytes += 16 * chunk.count
                    try await noise.flush(timeout: .seconds(5))
                    let log = (try? String(contentsOf: server.logFile, encoding: .utf8)) ?? ""
                    cutOff = log.split(separator: "\n").first { $0.contains("Slow Consumer Detected") }.map(String.init)
                    if history.now - history.faults[fault].at > .seconds(30) {
                        throw ScenarioFailure(
                            "the server did not cut the paused child off within 30 s (\(noiseBytes) bytes of noise)")
                    }
                }
                await noise.close()
                let pausedFor = history.now - history.faults[fault].at
                child.send(SIGCONT)
                history.lift(fault)
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(30), "writes after the resume")
                await load.stop()
                // Only the child writes now: it must make progress on its own again.
                let resumedAt = history.now
                try await history.waitUntilAcknowledged(
                    history.acknowledged + 20, timeout: .seconds(30), "the resumed child writing")
                let childResumed = history.now - resumedAt
                child.send(SIGUSR1)
                let output = try await child.waitForExit(timeout: .seconds(30))
                #expect(output.status == 0 && !output.signalled, "the child ended \(output.status): \(output.stderr)")
                try await follower.value
                let childState = try #require(lines.replica, "the child printed no state")

                let reader = NATSTransport(faultNATSOptions(server.url))
                try await reader.connect()
                let messages = try await RawStreamReader.read(stream, over: reader)
                await reader.close()
                let last = messages.last?.sequence ?? 0
                #expect(childState.sequence == last, "the resumed child stopped at \(childState.sequence) of \(last)")
                try await flood.waitUntilApplied(last)
                let fresh = try await Instance.open(url: server.url, stream: stream)
                let report = FaultReport(
                    scenario: "app-sigstop-cut-off", seed: seed, history: history, stream: stream, messages: messages,
                    replicas: [
                        "resumed-child": childState.documents, "flood": try await flood.documents(),
                        "fresh": try await fresh.documents(),
                    ], deadline: operationDeadline)
                await fresh.close()
                report.publish()
                print(
                    "FAULT-FIGURES scenario=app-sigstop-cut-off noiseBytes=\(noiseBytes) serverSaid=\"\(cutOff ?? "")\" detectedSeconds=\(seconds(pausedFor)) childWritesAgainWithinSeconds=\(seconds(childResumed))"
                )
                #expect(report.lost.isEmpty, "lost acknowledged writes: \(report.lost.prefix(10))")
                #expect(report.duplicated.isEmpty, "writes stored twice: \(report.duplicated.prefix(10))")
                #expect(report.phantom.isEmpty, "rejected writes stored: \(report.phantom.prefix(10))")
                #expect(report.unfinished.isEmpty, "operations past their deadline: \(report.unfinished.prefix(10))")
                #expect(report.divergent.isEmpty, "replicas differing from the stream: \(report.divergent)")
            } catch {
                child.send(SIGCONT)
                child.send(SIGKILL)
                _ = try? await follower.value
                await load.stop()
                await noise.close()
                await flood.close()
                throw ScenarioFailure("\(error); child stderr: \(child.stderrText)")
            }
            await flood.close()
        }
    }
}
