/// A stored document and its meta, as the local replica holds it.
///
/// `Record<JSONValue>` is what untyped reads return; `get(_:as:)` returns a `Record` of your own
/// `Decodable` type.
public struct Record<Document: Sendable>: Sendable {
    /// The record's key.
    public var key: String
    /// The document. For untyped records this is the written object with `"id": key` added.
    public var data: Document
    /// When it was created and modified, how often it changed, and its revision.
    public var meta: Meta

    /// Creates a record.
    public init(key: String, data: Document, meta: Meta) {
        self.key = key
        self.data = data
        self.meta = meta
    }
}

extension Record: Equatable where Document: Equatable {}
extension Record: Hashable where Document: Hashable {}
extension Record: Encodable where Document: Encodable {}
extension Record: Decodable where Document: Decodable {}

/// The result of ``Eventbase/insert(_:)-(JSONValue)``: the generated key and the stored record.
public struct InsertResult: Sendable, Hashable {
    /// The generated key (a UUID string).
    public var id: String
    /// The record as stored.
    public var record: Record<JSONValue>
}

/// The result of ``Eventbase/delete(_:)``.
public struct DeleteResult: Sendable, Hashable {
    /// How many older events of the key were purged from the log.
    public var purged: Int
    /// Whether the key existed in the local replica before the delete (for a repeated
    /// idempotent delete: whether the first one was written).
    public var existed: Bool
    /// The delete's revision (its log sequence): after the delete, the key's revision. `nil` when
    /// nothing was written (the key did not exist).
    public var revision: UInt64?

    /// Creates a result.
    public init(purged: Int, existed: Bool, revision: UInt64? = nil) {
        self.purged = purged
        self.existed = existed
        self.revision = revision
    }
}
