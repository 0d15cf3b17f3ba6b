import EventbaseCore
import Foundation

/// A failed conformance check: what was expected and what happened.
public struct ConformanceFailure: Error, CustomStringConvertible, Sendable {
    /// The check that failed.
    public let check: String
    /// What went wrong.
    public let message: String

    public var description: String { "\(check): \(message)" }
}

func expect(_ condition: Bool, _ check: String, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConformanceFailure(check: check, message: message()) }
}

func expectError<T>(
    _ code: EventbaseError.Code, _ check: String, _ what: String, _ body: () async throws -> T
) async throws {
    do {
        _ = try await body()
    } catch let error as EventbaseError {
        try expect(error.code == code, check, "\(what) threw \(error.code), expected \(code): \(error)")
        return
    } catch {
        throw ConformanceFailure(check: check, message: "\(what) threw \(error), expected EventbaseError \(code)")
    }
    throw ConformanceFailure(check: check, message: "\(what) succeeded, expected \(code)")
}

/// Reads batches from `entries` until `done` says the collected entries are enough, failing after `timeout`.
func collect(
    _ entries: LogEntries,
    timeout: Duration = .seconds(10),
    _ check: String,
    until done: @escaping @Sendable ([LogEntry], UInt64) -> Bool
) async throws -> (entries: [LogEntry], position: UInt64) {
    try await withDeadline(timeout, clock: ContinuousClock(), "Reading the log in \(check)") {
        var collected: [LogEntry] = []
        var position: UInt64 = 0
        if done(collected, position) { return (collected, position) }
        for try await batch in entries {
            collected += batch.entries
            position = max(position, batch.position)
            if done(collected, position) { return (collected, position) }
        }
        throw ConformanceFailure(
            check: check, message: "The log's entries ended early after \(collected.count) entries.")
    }
}

/// Makes a log on a new stream, runs `check` on it, then destroys the stream (unless the check
/// destroys it itself) and closes the log, also when the check fails.
func withFreshLog<Log: Sendable>(
    prefix: String, make: (String) async throws -> Log, asEventLog: (Log) -> any EventLog,
    checkDestroysStream: Bool, check: (Log, String) async throws -> Void
) async throws {
    let name = uniqueStreamName(prefix)
    let log = try await make(name)
    let eventLog = asEventLog(log)
    do {
        try await check(log, name)
    } catch {
        try? await eventLog.destroy()
        await eventLog.close()
        throw error
    }
    if !checkDestroysStream { try? await eventLog.destroy() }
    await eventLog.close()
}

/// A stream name unique to one check.
func uniqueStreamName(_ prefix: String = "conformance") -> String {
    prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
}

func putEvent(_ key: String, _ data: JSONValue, id: String? = UUID().uuidString, changes: Int? = nil) -> Event {
    Event(kind: .put, key: key, data: data, timestamp: 1_700_000_000_000, eventID: id, changes: changes)
}
