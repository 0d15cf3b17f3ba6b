public import EventbaseCore
import Foundation

/// The verdict of a fault scenario: the history checked against the stream read raw from the server
/// and against every replica.
///
/// The checks (the fault tests' pass criteria):
/// - **lost**: acknowledged writes whose op id is not in the stream, or whose key ended older than
///   the write (each key has one writer, which writes increasing `n`);
/// - **duplicated**: op ids or `Nats-Msg-Id`s stored more than once;
/// - **phantom**: rejected writes that are in the stream anyway;
/// - **unfinished**: operations still pending, or that took longer than the deadline;
/// - **divergent**: replicas whose documents differ from the ``IndependentFold`` of the stream.
///
/// Values written by the workload must be objects with `"op"` (the op id) and `"n"` (the writer's
/// counter for that key); the stream must keep every event (``EventbaseOptions/Retention/everything``)
/// so that presence can be checked.
public struct FaultReport: Sendable, CustomStringConvertible {
    /// The scenario's name.
    public var scenario: String
    /// The seed it ran with.
    public var seed: UInt64
    /// Faults injected, by kind.
    public var faults: [String: Int]
    /// Operations recorded.
    public var operations: Int
    /// Acknowledged (ok) writes.
    public var acknowledged: Int
    /// Rejected writes.
    public var rejected: Int
    /// Writes with an unknown outcome.
    public var unknown: Int
    /// Failed writes by error code.
    public var errors: [String: Int]
    /// Unknown writes found in the stream (they happened).
    public var unknownApplied: Int
    /// Acknowledged writes missing from the stream or overwritten by an older value.
    public var lost: [String]
    /// Writes stored more than once.
    public var duplicated: [String]
    /// How often writers retried an unknown outcome with the write's idempotency key.
    public var retries = 0
    /// Rejected writes found in the stream.
    public var phantom: [String]
    /// Operations that did not end within the deadline.
    public var unfinished: [String]
    /// Replicas (by name) that differ from the independent fold.
    public var divergent: [String]
    /// Messages in the stream.
    public var streamMessages: Int
    /// The longest time no write completed after the first fault.
    public var unavailability: Duration

    /// Whether every criterion holds.
    public var passed: Bool {
        lost.isEmpty && duplicated.isEmpty && phantom.isEmpty && unfinished.isEmpty && divergent.isEmpty
    }

    /// One line of figures, `key=value` pairs, for logs and the soak script.
    public var description: String {
        let faultText = faults.keys.sorted().map { "\($0):\(faults[$0]!)" }.joined(separator: ",")
        let errorText = errors.keys.sorted().map { "\($0):\(errors[$0]!)" }.joined(separator: ",")
        let window = Double(unavailability.components.attoseconds) / 1e18 + Double(unavailability.components.seconds)
        return
            "FAULT-FIGURES scenario=\(scenario) seed=\(seed) faults=\(faultText.isEmpty ? "none" : faultText) ops=\(operations) acked=\(acknowledged) rejected=\(rejected) unknown=\(unknown) retries=\(retries) errors=\(errorText.isEmpty ? "none" : errorText) unknownApplied=\(unknownApplied) lost=\(lost.count) duplicated=\(duplicated.count) phantom=\(phantom.count) unfinished=\(unfinished.count) divergent=\(divergent.count) streamMessages=\(streamMessages) unavailableSeconds=\(String(format: "%.2f", window))"
    }

    /// Writes ``description`` to standard output and, when `FAULT_FIGURES_FILE` is set, appends it to
    /// that file.
    public func publish() {
        print(description)
        guard let path = ProcessInfo.processInfo.environment["FAULT_FIGURES_FILE"], !path.isEmpty else { return }
        let line = Data((description + "\n").utf8)
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(line)
            handle.closeFile()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: line)
        }
    }

    /// Checks a history.
    /// - Parameters:
    ///   - scenario: A name for the figures.
    ///   - seed: The seed the scenario ran with.
    ///   - history: The operations and faults.
    ///   - stream: The stream's name.
    ///   - messages: The stream read raw (``RawStreamReader``).
    ///   - replicas: Each replica's documents by key, by replica name.
    ///   - deadline: How long any operation may take.
    public init(
        scenario: String, seed: UInt64, history: FaultHistory, stream: String, messages: [RawStreamMessage],
        replicas: [String: [String: JSONValue]], deadline: Duration
    ) {
        self.scenario = scenario
        self.seed = seed
        let operations = history.operations
        self.operations = operations.count
        faults = Dictionary(history.faults.map { ($0.kind, 1) }, uniquingKeysWith: +)
        acknowledged = operations.count { $0.outcome == .ok }
        rejected = operations.count { $0.outcome == .rejected }
        unknown = operations.count { $0.outcome == .unknown }
        retries = operations.reduce(0) { $0 + $1.retries }
        errors = Dictionary(operations.compactMap(\.errorCode).map { ($0, 1) }, uniquingKeysWith: +)
        streamMessages = messages.count
        unavailability = history.longestUnavailability

        var stored: [String: Int] = [:]
        var messageIDs: [String: Int] = [:]
        for message in messages {
            if let id = message.messageID { messageIDs[id, default: 0] += 1 }
            if let payload = try? JSONValue(jsonBytes: message.payload), let op = payload["data"]?["op"]?.stringValue {
                stored[op, default: 0] += 1
            }
        }
        duplicated =
            stored.filter { $0.value > 1 }.keys.sorted()
            + messageIDs.filter { $0.value > 1 }.keys.sorted().map {
                "msgid:\($0)"
            }

        let fold = IndependentFold(stream: stream, messages: messages)
        var lost: [String] = []
        var newestAcked: [String: (n: Int, op: String)] = [:]
        for operation in operations where operation.outcome == .ok {
            if stored[operation.opID] == nil { lost.append(operation.opID) }
            let n = operation.value["n"]?.intValue ?? 0
            if n >= (newestAcked[operation.key]?.n ?? Int.min) { newestAcked[operation.key] = (n, operation.opID) }
        }
        for (key, newest) in newestAcked {
            let final = fold.documents[key]?["n"]?.intValue ?? Int.min
            if final < newest.n { lost.append("\(newest.op)(key \(key) ended at n=\(final))") }
        }
        self.lost = lost
        phantom = operations.filter { $0.outcome == .rejected && stored[$0.opID] != nil }.map(\.opID)
        unknownApplied = operations.count { $0.outcome == .unknown && stored[$0.opID] != nil }
        unfinished = operations.compactMap { operation in
            guard let completed = operation.completed else { return "\(operation.opID) pending" }
            let took = completed - operation.invoked
            return took > deadline ? "\(operation.opID) took \(took)" : nil
        }
        let expected = fold.stateHash
        divergent = replicas.keys.sorted().filter { IndependentFold.hash(replicas[$0]!) != expected }
    }
}
