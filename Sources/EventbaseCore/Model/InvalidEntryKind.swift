/// Why a message on the stream is not a valid event, so every replica skipped it.
///
/// The classification depends only on the message's subject, headers and payload, so every replica
/// of a stream skips the same messages for the same reasons. ``Eventbase/invalidEntryCounts`` counts
/// them per kind; each is also logged (a warning, without the payload) and recorded as a
/// ``Stat/Operation/skipInvalid`` stat.
///
/// A struct over a private enum, so new kinds can be added without breaking anyone's `switch`.
public struct InvalidEntryKind: Hashable, Sendable, CustomStringConvertible, Comparable {
    private enum Value: String, Hashable, Sendable, CaseIterable {
        case emptyPayload = "empty-payload"
        case invalidUTF8 = "invalid-utf8"
        case notJSON = "not-json"
        case tooLarge = "too-large"
        case wrongShape = "wrong-shape"
        case unknownType = "unknown-type"
        case missingKey = "missing-key"
        case unexpectedSubject = "unexpected-subject"
        case subjectMismatch = "subject-mismatch"
        case unclassified = "unclassified"
    }

    private let value: Value
    private init(_ value: Value) { self.value = value }

    /// A short, stable name such as `not-json`, used in logs and stats.
    public var description: String { value.rawValue }

    /// Orders kinds by name.
    public static func < (lhs: InvalidEntryKind, rhs: InvalidEntryKind) -> Bool {
        lhs.value.rawValue < rhs.value.rawValue
    }

    /// The payload is empty (for example a message with headers only).
    public static let emptyPayload = InvalidEntryKind(.emptyPayload)
    /// The payload is not valid UTF-8.
    public static let invalidUTF8 = InvalidEntryKind(.invalidUTF8)
    /// The payload is UTF-8 but not JSON.
    public static let notJSON = InvalidEntryKind(.notJSON)
    /// The payload is JSON nested deeper or larger than ``JSONLimits`` allow.
    public static let tooLarge = InvalidEntryKind(.tooLarge)
    /// The payload is JSON of the wrong shape: not an object, a PUT without `data`, a bad `timestamp`.
    public static let wrongShape = InvalidEntryKind(.wrongShape)
    /// The payload's `type` is missing or is neither `PUT` nor `DELETE`.
    public static let unknownType = InvalidEntryKind(.unknownType)
    /// The payload has no string `id` (the key).
    public static let missingKey = InvalidEntryKind(.missingKey)
    /// The subject is not `<stream>.<base64 key>-put` or `-delete`.
    public static let unexpectedSubject = InvalidEntryKind(.unexpectedSubject)
    /// The subject's key or kind differs from the payload's `id` or `type`.
    public static let subjectMismatch = InvalidEntryKind(.subjectMismatch)
    /// An adapter skipped the entry without saying why.
    public static let unclassified = InvalidEntryKind(.unclassified)

    /// Every kind, in name order.
    public static let allKinds: [InvalidEntryKind] = Value.allCases.map(InvalidEntryKind.init).sorted()
}
