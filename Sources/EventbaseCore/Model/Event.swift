public import Foundation

/// One write to the log: a put of a document or a delete of a key.
///
/// On the wire (compatible with eventbase v3) a put is published to `<stream>.<base64(key)>-put`
/// with the payload `{"type":"PUT","id":<key>,"data":<object>,"timestamp":<ms>}` and a delete to
/// `<stream>.<base64(key)>-delete` with `{"type":"DELETE","id":<key>,"timestamp":<ms>}`.
/// ``EventCodec`` does the encoding.
public struct Event: Sendable, Hashable {
    /// The kind of write.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A put: the document replaces whatever the key held.
        case put = "PUT"
        /// A delete: the key stops existing.
        case delete = "DELETE"
    }

    /// Put or delete.
    public var kind: Kind
    /// The key written (the payload's `id`).
    public var key: String
    /// The document of a put, as written (without the `id` the replica adds); `nil` for a delete.
    ///
    /// An event read from a log may hold its document packed (see ``EventCodec``): it is then decoded
    /// on each read of this property, and setting it replaces the packed form.
    public var data: JSONValue? {
        get {
            switch document {
            case .decoded(let data): data
            case .packed(let packed): packed.value
            }
        }
        set { document = .decoded(newValue) }
    }
    /// How `data` is held.
    private enum Document: Sendable {
        /// Given decoded (or absent).
        case decoded(JSONValue?)
        /// Decoded from the log straight into the packed form a replica stores.
        case packed(PackedDocument)
    }
    private var document: Document
    /// `data` when it is held packed.
    var packedData: PackedDocument? {
        if case .packed(let packed) = document { return packed }
        return nil
    }
    /// The writer's clock when it wrote, in milliseconds since 1970 (the payload's `timestamp`).
    public var timestamp: Int64
    /// A unique id for the write, used for de-duplication (`Nats-Msg-Id`); not in the payload.
    public var eventID: String?
    /// The change count the writer assigned (carried in a header, so a replica that replays after
    /// purges computes the same meta as one that saw every event). `nil` for events of writers that
    /// do not carry it, such as eventbase v3.
    public var changes: Int?
    /// The creation time, in milliseconds since 1970, that the writer saw for an existing record
    /// (carried in a header). `nil` when the put creates the record.
    public var dateCreated: Int64?
    /// Payload fields that Eventbase does not know, kept as they were.
    public var extraFields: JSONObject
    /// The condition every replica checks as it applies this put (carried in a header): a put
    /// whose condition does not hold when it is applied changes nothing, on every replica alike.
    /// `nil` for unconditional writes and for events of writers that do not carry it.
    public var expectation: Expectation?

    /// A condition on the key's state that a conditional put carries.
    public enum Expectation: Sendable, Hashable {
        /// The key holds a record at this revision.
        case revision(UInt64)
        /// The key holds no record (it was never written, or was deleted).
        case absent
    }

    /// Creates an event.
    public init(
        kind: Kind,
        key: String,
        data: JSONValue? = nil,
        timestamp: Int64,
        eventID: String? = nil,
        changes: Int? = nil,
        dateCreated: Int64? = nil,
        extraFields: JSONObject = [:],
        expectation: Expectation? = nil
    ) {
        self.kind = kind
        self.key = key
        self.document = .decoded(data)
        self.timestamp = timestamp
        self.eventID = eventID
        self.changes = changes
        self.dateCreated = dateCreated
        self.extraFields = extraFields
        self.expectation = expectation
    }

    /// An event whose document stays packed until it is read.
    init(kind: Kind, key: String, packedData: PackedDocument?, timestamp: Int64) {
        self.init(kind: kind, key: key, timestamp: timestamp)
        if let packedData { document = .packed(packedData) }
    }

    /// Whether two events are the same write: their documents compare as values, whether held
    /// packed or decoded.
    public static func == (lhs: Event, rhs: Event) -> Bool {
        lhs.kind == rhs.kind && lhs.key == rhs.key && lhs.timestamp == rhs.timestamp && lhs.eventID == rhs.eventID
            && lhs.changes == rhs.changes && lhs.dateCreated == rhs.dateCreated && lhs.extraFields == rhs.extraFields
            && lhs.expectation == rhs.expectation && lhs.data == rhs.data
    }

    /// Hashes what ``==`` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(key)
        hasher.combine(data)
        hasher.combine(timestamp)
        hasher.combine(eventID)
        hasher.combine(changes)
        hasher.combine(dateCreated)
        hasher.combine(extraFields)
        hasher.combine(expectation)
    }
}

/// An event as the log holds it: with the sequence and time the log assigned.
public struct LogEntry: Sendable, Hashable {
    /// The log's sequence number for this entry (1-based, strictly increasing, gaps allowed).
    public var sequence: UInt64
    /// The log's timestamp for this entry (for JetStream: the server's time).
    public var time: Date
    /// The event, or why it could not be read.
    public var payload: Payload

    /// What an entry holds.
    public enum Payload: Sendable, Hashable {
        /// A well-formed event.
        case event(Event)
        /// A message that is not a valid event (malformed JSON, an unknown type, a subject that does not
        /// match its payload). The replica skips it, logs it and counts it per `kind`; it never stops
        /// replication. `reason` says what is wrong for people; it never quotes the payload.
        case invalid(subject: String, reason: String, kind: InvalidEntryKind = .unclassified)
    }

    /// Creates an entry.
    public init(sequence: UInt64, time: Date, payload: Payload) {
        self.sequence = sequence
        self.time = time
        self.payload = payload
    }

    /// Creates an entry holding a well-formed event.
    public init(sequence: UInt64, time: Date, event: Event) {
        self.init(sequence: sequence, time: time, payload: .event(event))
    }

    /// The event, if the entry holds a well-formed one.
    public var event: Event? {
        if case .event(let event) = payload { return event }
        return nil
    }
}

/// A run of entries read from the log, and how far the reader has got.
public struct LogBatch: Sendable, Hashable {
    /// Entries in increasing sequence order.
    public var entries: [LogEntry]
    /// Every sequence up to and including this one has been delivered or no longer exists in the log
    /// (purged). At least the last entry's sequence. Lets a reader become caught up with a log whose
    /// newest messages were purged.
    public var position: UInt64

    /// Creates a batch.
    public init(entries: [LogEntry], position: UInt64) {
        self.entries = entries
        self.position = max(position, entries.last?.sequence ?? 0)
    }
}
