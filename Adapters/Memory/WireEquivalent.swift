import EventbaseCore

/// Builds the entry a replica reads for an appended event without encoding it to JSON and parsing
/// it back, when that gives exactly what the round trip through ``EventCodec`` would.
///
/// The round trip changes an event in a few known ways, applied here: a put without data gets `{}`,
/// a delete loses its data, payload fields named `type`, `id`, `data` or `timestamp` are dropped
/// from the extra fields, a change count below 1 is dropped. Where it would change more, or refuse
/// the event, the shortcut gives `nil` and the caller goes through the codec: a timestamp JSON
/// cannot carry exactly, a number that is not finite or is -0 (written as `null` and `0`), and a
/// payload that might pass the default ``JSONLimits`` (its depth, or a bound on its size).
enum WireEquivalent {
    /// Payload fields that the codec writes itself and so drops from ``Event/extraFields``.
    private static let reserved: Set<String> = ["type", "id", "data", "timestamp"]

    static func entry(for event: Event) -> LogEntry.Payload? {
        guard event.timestamp.magnitude < 9_000_000_000_000_000 else { return nil }
        let limits = JSONLimits.default
        var normalized = Event(kind: event.kind, key: event.key, timestamp: event.timestamp)
        // The envelope: {"type":"DELETE","id":…,"data":…,"timestamp":…} with room to spare.
        var bound = 64 + stringBound(event.key)
        var depth = 0
        if event.kind == .put {
            let data = event.data ?? .object([:])
            guard let size = Self.bound(data, depth: 1, deepest: &depth) else { return nil }
            bound += size
            normalized.data = data
        }
        if !event.extraFields.isEmpty {
            var extras = JSONObject()
            for (name, value) in event.extraFields where !reserved.contains(name) {
                guard let size = Self.bound(value, depth: 1, deepest: &depth) else { return nil }
                bound += stringBound(name) + 2 + size
                extras[name] = value
            }
            normalized.extraFields = extras
        }
        // The payload object adds a level; one more is kept in hand.
        guard depth + 1 < limits.maxDepth, bound <= limits.maxBytes else { return nil }
        normalized.eventID = event.eventID
        normalized.changes = event.changes.flatMap { $0 > 0 ? $0 : nil }
        normalized.dateCreated = event.dateCreated
        if event.kind == .put, event.expectation != .revision(0) { normalized.expectation = event.expectation }
        return .event(normalized)
    }

    /// At most how many bytes a string takes in JSON (every byte escaped as `\u00XX`, and quotes).
    private static func stringBound(_ string: String) -> Int {
        string.utf8.count * 6 + 2
    }

    /// At most how many bytes `value` takes in JSON, tracking the deepest nesting; `nil` when its
    /// round trip would not give it back.
    private static func bound(_ value: JSONValue, depth: Int, deepest: inout Int) -> Int? {
        switch value {
        case .null, .bool:
            return 5
        case .number(let number):
            guard number.isFinite, !(number == 0 && number.sign == .minus) else { return nil }
            return 32
        case .string(let string):
            return stringBound(string)
        case .array(let elements):
            deepest = max(deepest, depth)
            guard depth < 200 else { return nil }
            var total = 2
            for element in elements {
                guard let size = bound(element, depth: depth + 1, deepest: &deepest) else { return nil }
                total += size + 1
            }
            return total
        case .object(let object):
            deepest = max(deepest, depth)
            guard depth < 200 else { return nil }
            var total = 2
            for (name, member) in object {
                guard let size = bound(member, depth: depth + 1, deepest: &deepest) else { return nil }
                total += stringBound(name) + size + 2
            }
            return total
        }
    }
}
