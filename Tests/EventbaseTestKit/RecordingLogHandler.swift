public import Logging
import Synchronization

/// A `LogHandler` that keeps every entry (at every level) and lets a test await one, for
/// asserting what a component logs.
///
/// ```swift
/// let recording = RecordingLogHandler()
/// let eventbase = try await builder.logger(recording.logger).build()
/// await recording.waitFor { $0.message.contains("Reconnected") }
/// ```
public struct RecordingLogHandler: LogHandler {
    /// One logged entry.
    public struct Entry: Sendable {
        /// Its level.
        public var level: Logger.Level
        /// Its message.
        public var message: String
        /// The logger's and the call's metadata, merged.
        public var metadata: Logger.Metadata

        /// The message and every metadata value, as one string (for "never contains" checks).
        public var text: String {
            ([message] + metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
        }
    }

    private final class Store: Sendable {
        struct State {
            var entries: [Entry] = []
            var waiters: [(predicate: @Sendable (Entry) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        }
        let state = Mutex(State())
    }

    private let store = Store()
    /// The handler's own metadata.
    public var metadata: Logger.Metadata = [:]
    /// Every level is recorded by default.
    public var logLevel: Logger.Level = .trace

    /// Creates an empty handler.
    public init() {}

    /// A logger that writes to this handler.
    public var logger: Logger {
        let handler = self
        return Logger(label: "eventbase.test", factory: { _ in handler })
    }

    /// Every entry so far, in order.
    public var entries: [Entry] { store.state.withLock { $0.entries } }

    /// Returns once an entry matching `predicate` has been logged (at once if one was).
    public func waitFor(_ predicate: @escaping @Sendable (Entry) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let found = store.state.withLock { state -> Bool in
                if state.entries.contains(where: predicate) { return true }
                state.waiters.append((predicate, continuation))
                return false
            }
            if found { continuation.resume() }
        }
    }

    /// Gets or sets one metadata value of the handler.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Records an entry and wakes the waiters it satisfies.
    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let entry = Entry(level: event.level, message: "\(event.message)", metadata: merged)
        let ready = store.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.entries.append(entry)
            var ready: [CheckedContinuation<Void, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.predicate(entry) else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}
