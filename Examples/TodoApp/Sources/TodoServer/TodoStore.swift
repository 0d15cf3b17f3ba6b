public import Eventbase
import Foundation

/// The to-do list, stored in one Eventbase stream: each item is a record `{title, done, createdAt}`
/// under a UUID key (the stored document also has `id`).
public struct TodoStore: Sendable {
    /// The longest title accepted, in characters.
    public static let maxTitleLength = 200

    /// The instance the items live in.
    public let eventbase: Eventbase

    /// Creates a store over `eventbase`.
    public init(eventbase: Eventbase) {
        self.eventbase = eventbase
    }

    /// Every item, oldest first, once this replica has applied `consistency`'s revision.
    public func list(consistency: Consistency = .local) async throws -> [JSONValue] {
        try await eventbase.query([:], options: QueryOptions(sort: ["createdAt": .ascending]), consistency: consistency)
    }

    /// Adds an item from `{"title": String, "done"?: Bool}`. With `idempotencyKey` (a client's
    /// request id), a retried request adds the item once.
    /// - Returns: The stored item and its revision.
    /// - Throws: ``TodoInputError`` for a bad body; what Eventbase throws.
    public func add(_ body: JSONValue, idempotencyKey: String? = nil) async throws -> (JSONValue, UInt64) {
        guard let title = body["title"]?.stringValue else { throw TodoInputError("title must be a string.") }
        let done = try body["done"].map { value -> Bool in
            guard let done = value.boolValue else { throw TodoInputError("done must be true or false.") }
            return done
        }
        let document: JSONValue = [
            "title": .string(try Self.validTitle(title)),
            "done": .bool(done ?? false),
            "createdAt": .number((Date().timeIntervalSince1970 * 1000).rounded()),
        ]
        let inserted =
            if let idempotencyKey {
                try await eventbase.insert(document, idempotencyKey: idempotencyKey)
            } else {
                try await eventbase.insert(document)
            }
        return (inserted.record.data, inserted.record.meta.revision)
    }

    /// Changes an item's `title` and/or `done`, as read once this replica has applied `consistency`'s
    /// revision; `nil` when there is no such item.
    /// - Returns: The stored item and its revision.
    /// - Throws: ``TodoInputError`` for a bad body; `.conflict` from Eventbase when the item changed
    ///   meanwhile (the caller retries).
    public func update(_ id: String, _ body: JSONValue, consistency: Consistency = .local) async throws -> (
        JSONValue, UInt64
    )? {
        guard case .object(let changes) = body else { throw TodoInputError("The body must be a JSON object.") }
        guard let current = try await eventbase.get(id, consistency: consistency),
            case .object(var document) = current.data
        else { return nil }
        for (field, value) in changes {
            switch field {
            case "title":
                guard let title = value.stringValue else { throw TodoInputError("title must be a string.") }
                document["title"] = .string(try Self.validTitle(title))
            case "done":
                guard let done = value.boolValue else { throw TodoInputError("done must be true or false.") }
                document["done"] = .bool(done)
            default:
                throw TodoInputError("Unknown field \(field): only title and done can change.")
            }
        }
        document["id"] = nil
        let stored = try await eventbase.put(id, .object(document), expectedRevision: current.meta.revision)
        return (stored.data, stored.meta.revision)
    }

    /// Deletes an item, once this replica has applied `consistency`'s revision.
    /// - Returns: The delete's revision; `nil` when the item did not exist.
    public func delete(_ id: String, consistency: Consistency = .local) async throws -> UInt64? {
        if case .atLeast = consistency { _ = try await eventbase.get(id, consistency: consistency) }
        return try await eventbase.delete(id).revision
    }

    private static func validTitle(_ title: String) throws -> String {
        let trimmed = title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw TodoInputError("title must not be empty.") }
        guard trimmed.count <= maxTitleLength else {
            throw TodoInputError("title must be at most \(maxTitleLength) characters.")
        }
        return trimmed
    }
}

/// A request body the API cannot accept (answered with 400 and the message).
public struct TodoInputError: Error, Sendable {
    /// What is wrong, for the client.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }
}
