import Foundation

/// A change to a record as a live query sees it.
///
/// A subscription is told when a record *enters* its query (created, or changed so that it now
/// matches), *changes within* it (still matches), or *leaves* it (deleted, or changed so that it no
/// longer matches).
public struct Change: Sendable, Hashable {
    /// How the record moved relative to the query.
    public enum Kind: String, Sendable, Hashable {
        /// The record did not match before this event and matches now.
        case entered
        /// The record matched before and still matches.
        case updated
        /// The record matched before and does not now (it was deleted or changed).
        case left
    }

    /// How the record moved relative to the query.
    public var kind: Kind
    /// The record's key.
    public var key: String
    /// The record's document after the event; `nil` when it was deleted.
    public var data: JSONValue?
    /// The record's meta after the event; `nil` when it was deleted.
    public var meta: Meta?
    /// The record's document before the event; `nil` when it did not exist.
    public var oldData: JSONValue?
    /// The log entry that caused the change (the event, its sequence and time).
    public var entry: LogEntry

    /// The event that caused the change.
    public var event: Event? { entry.event }
}

/// What a live query yields: the records matching when it started, a marker, then changes.
public enum LiveQueryEvent: Sendable, Hashable {
    /// A record that matched when the live query started.
    case existing(Record<JSONValue>)
    /// Every record that matched at the start has been delivered; changes follow.
    case caughtUp
    /// A change after the start.
    case change(Change)
}

/// A live subscription made with ``Eventbase/subscribe(_:_:)``. Cancel it to stop being called.
public final class Subscription: Sendable, Hashable {
    private let cancelAction: @Sendable () -> Void
    /// An identifier unique within its ``Eventbase`` instance.
    public let id: Int

    init(id: Int, cancel: @escaping @Sendable () -> Void) {
        self.id = id
        self.cancelAction = cancel
    }

    /// Stops the subscription. The handler is not called after `cancel()` returns (except for a call
    /// already in progress on another task). Idempotent.
    public func cancel() {
        cancelAction()
    }

    public static func == (lhs: Subscription, rhs: Subscription) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// The handler of a closure subscription: `(key, data, meta, change)`.
///
/// `data` and `meta` are the record after the change (`nil` when it was deleted). A handler that
/// throws is logged; it never stops replication or other subscriptions.
public typealias SubscriptionHandler =
    @Sendable (_ key: String, _ data: JSONValue?, _ meta: Meta?, _ change: Change) throws -> Void

/// The changes matching a query, as an `AsyncSequence` (from ``Eventbase/changes(matching:)``).
///
/// It ends when the instance closes, and throws `.slowConsumer` if the consumer falls more than
/// the configured buffer behind (or `.invalidQuery` at once for a malformed query). Ending the
/// iteration (or cancelling its task) cancels the subscription.
public struct ChangeSequence: AsyncSequence, Sendable {
    public typealias Element = Change
    let stream: AsyncThrowingStream<Change, any Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<Change, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}

/// A live query as an `AsyncSequence` (from ``Eventbase/liveQuery(_:)``): the matching records,
/// ``LiveQueryEvent/caughtUp``, then every change.
///
/// The matching records are taken when the live query is created, without decoding them; each is
/// decoded as it is iterated. The changes after them are buffered up to
/// ``EventbaseOptions/changeBufferSize``: a consumer that falls further behind gets `.slowConsumer`.
public struct LiveQuerySequence: AsyncSequence, Sendable {
    public typealias Element = LiveQueryEvent
    let snapshot: [(key: String, record: StoredRecord)]
    let stream: AsyncThrowingStream<Change, any Error>
    /// Why the live query could not start (an invalid query, a closed instance): thrown by the
    /// first iteration.
    let failure: (any Error)?

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(snapshot: snapshot, changes: stream.makeAsyncIterator(), failure: failure)
    }

    /// Iterates a live query: the snapshot, `.caughtUp`, then the changes.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private var snapshot: [(key: String, record: StoredRecord)]
        private var position = 0
        private var caughtUp = false
        private var changes: AsyncThrowingStream<Change, any Error>.AsyncIterator
        private var failure: (any Error)?

        init(
            snapshot: [(key: String, record: StoredRecord)],
            changes: AsyncThrowingStream<Change, any Error>.AsyncIterator, failure: (any Error)?
        ) {
            self.snapshot = snapshot
            self.changes = changes
            self.failure = failure
        }

        public mutating func next() async throws -> LiveQueryEvent? {
            if let failure {
                self.failure = nil
                caughtUp = true
                throw failure
            }
            if position < snapshot.count {
                let (key, record) = snapshot[position]
                position += 1
                if position == snapshot.count { snapshot = [] }
                return .existing(record.record(key: key))
            }
            if !caughtUp {
                caughtUp = true
                return .caughtUp
            }
            return try await changes.next().map(LiveQueryEvent.change)
        }
    }
}
