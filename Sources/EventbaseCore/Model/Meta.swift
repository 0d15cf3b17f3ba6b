public import Foundation

/// What Eventbase knows about a record besides its data.
///
/// Every replica computes the same meta for the same log, including a replica that replays from
/// scratch after older events were purged: each write carries the change count and creation date
/// its writer assigned, so the surviving event is enough (see docs/adr/0001-writer-assigned-meta.md).
public struct Meta: Sendable, Hashable {
    /// When the record was first written (after its last delete): the log's timestamp of that write.
    public var dateCreated: Date
    /// When the record was last written: the log's timestamp of the last write.
    public var dateModified: Date
    /// How many puts the record has had since it was created.
    public var changes: Int
    /// The log sequence of the last write. Use it for optimistic concurrency.
    public var revision: UInt64

    /// Creates meta.
    public init(dateCreated: Date, dateModified: Date, changes: Int, revision: UInt64) {
        self.dateCreated = dateCreated
        self.dateModified = dateModified
        self.changes = changes
        self.revision = revision
    }
}

extension Meta: Codable {
    private enum CodingKeys: String, CodingKey {
        case dateCreated, dateModified, changes, revision
    }

    /// Encodes dates as ISO 8601 strings in UTC with milliseconds, as the original library does.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ISO8601.format(dateCreated), forKey: .dateCreated)
        try container.encode(ISO8601.format(dateModified), forKey: .dateModified)
        try container.encode(changes, forKey: .changes)
        try container.encode(revision, forKey: .revision)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func date(_ key: CodingKeys) throws -> Date {
            let text = try container.decode(String.self, forKey: key)
            guard let milliseconds = ISO8601.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "Expected an ISO 8601 date, found \(text)")
            }
            return Date(millisecondsSince1970: milliseconds)
        }
        dateCreated = try date(.dateCreated)
        dateModified = try date(.dateModified)
        changes = try container.decode(Int.self, forKey: .changes)
        revision = try container.decodeIfPresent(UInt64.self, forKey: .revision) ?? 0
    }

    /// The meta as a JSON object, with ISO 8601 dates: `{"dateCreated":…,"dateModified":…,"changes":…,"revision":…}`.
    public var jsonValue: JSONValue {
        [
            "dateCreated": .string(ISO8601.format(dateCreated)),
            "dateModified": .string(ISO8601.format(dateModified)),
            "changes": .number(Double(changes)),
            "revision": .number(Double(revision)),
        ]
    }
}

extension ISO8601 {
    /// Formats a date as `2024-05-01T12:00:00.000Z`.
    package static func format(_ date: Date) -> String {
        format(millisecondsSince1970: date.millisecondsSince1970)
    }
}

extension Date {
    /// Milliseconds since 1970, truncated toward negative infinity.
    package var millisecondsSince1970: Int64 {
        Int64((timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// A date from milliseconds since 1970.
    package init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
