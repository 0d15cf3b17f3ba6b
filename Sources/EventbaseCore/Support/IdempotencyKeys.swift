/// Turns a caller's idempotency key into the identifiers a retried write must repeat exactly.
///
/// A write's event id is its `Nats-Msg-Id`, which the log de-duplicates within its duplicate window.
/// A write made with an idempotency key takes an event id derived from that key (and from what the
/// write is: its operation and its record key), so the same call repeated, by this instance or any
/// other, carries the same event id and is stored once. `insert` derives its generated key the same
/// way, so a retried insert targets the key the first attempt chose.
///
/// Identifiers are SHA-256 digests of the inputs, each prefixed by its length, formatted as
/// version-8 UUIDs: two different inputs cannot be steered onto one id.
enum IdempotencyKeys {
    /// The most UTF-8 bytes an idempotency key may have.
    static let maxBytes = 512

    /// Checks that `key` is usable: non-empty and at most ``maxBytes``.
    static func validate(_ key: String) throws {
        let count = key.utf8.count
        guard count > 0 else {
            throw EventbaseError(.invalidArgument, "An idempotency key must not be empty.")
        }
        guard count <= maxBytes else {
            throw EventbaseError(
                .invalidArgument,
                "An idempotency key may have at most \(maxBytes) UTF-8 bytes; this one has \(count). Hash it first.")
        }
    }

    /// The event id of a write of `operation` (`"put"`, `"delete"`) to `key` made with `idempotencyKey`.
    static func eventID(operation: String, key: String, idempotencyKey: String) -> String {
        uuid(["eventbase.write", operation, key, idempotencyKey]).uppercased()
    }

    /// The key `insert` stores under when called with `idempotencyKey`: a lowercase UUID, as
    /// `insert` generates without one.
    static func insertKey(idempotencyKey: String) -> String {
        uuid(["eventbase.insert", idempotencyKey]).lowercased()
    }

    private static func uuid(_ parts: [String]) -> String {
        var input: [UInt8] = []
        for part in parts {
            let count = UInt32(part.utf8.count)
            for shift in stride(from: 24, through: 0, by: -8) {
                input.append(UInt8(truncatingIfNeeded: count >> UInt32(shift)))
            }
            input.append(contentsOf: part.utf8)
        }
        let digest = SHA256.hash(input)
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(digest[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(digest[index]) }
        return EventIDs.format(high: high, low: low, version: 8)
    }
}
