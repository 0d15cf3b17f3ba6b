public import Foundation
public import Logging
import Synchronization

/// A log handler that keeps every record in memory, so tests can assert what was logged (and what
/// was not: secrets, document contents).
///
/// ```swift
/// let capture = LogCapture()
/// let eventbase = try await Eventbase.builder(streamName: "s").logger(capture.logger()).inMemory().build()
/// #expect(capture.records.contains { $0.level == .warning })
/// ```
public final class LogCapture: Sendable {
    /// One captured log record.
    public struct Record: Sendable, CustomStringConvertible {
        /// The level it was logged at.
        public let level: Logger.Level
        /// The message.
        public let message: String
        /// The metadata, rendered as text.
        public let metadata: [String: String]
        /// The logger's label.
        public let label: String
        /// When it was logged.
        public let date: Date

        /// The record as one line: level, message and metadata.
        public var description: String {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "[\(level)] \(label): \(message) \(fields)"
        }
    }

    private let storage = Mutex<[Record]>([])

    /// Creates an empty capture.
    public init() {}

    /// Every record captured so far, in order.
    public var records: [Record] { storage.withLock { $0 } }

    /// All captured records as text, one per line.
    public var text: String { records.map(\.description).joined(separator: "\n") }

    /// A logger at `level` whose records go to this capture.
    public func logger(label: String = "eventbase", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { label in CapturingLogHandler(label: label, capture: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ record: Record) {
        storage.withLock { $0.append(record) }
    }
}

/// The `LogHandler` behind ``LogCapture``.
public struct CapturingLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    private let capture: LogCapture

    /// The handler's own metadata, added to every record.
    public var metadata: Logger.Metadata = [:]
    /// The level below which nothing is captured.
    public var logLevel: Logger.Level = .trace
    /// Not used; metadata providers are ignored.
    public var metadataProvider: Logger.MetadataProvider?

    /// Creates a handler that appends to `capture`.
    public init(label: String, capture: LogCapture) {
        self.label = label
        self.capture = capture
    }

    /// Captures one record.
    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        capture.append(
            LogCapture.Record(
                level: event.level, message: event.message.description,
                metadata: merged.mapValues { "\($0)" }, label: label, date: Date()))
    }

    /// Reads or writes one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
