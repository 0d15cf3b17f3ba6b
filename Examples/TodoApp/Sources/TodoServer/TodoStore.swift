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

    /// Every item, oldest first.
    public func list() async throws -> [JSONValue] {
        try await eventbase.query([:], options: QueryOptions(sort: ["createdAt": .ascending]))
    }

    /// Adds an item from `{"title": String, "done"?: Bool}`.
    /// - Throws: ``TodoInputError`` for a bad body; what Eventbase throws.
    public func add(_ body: JSONValue) async throws -> JSONValue {
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
        return try await eventbase.insert(document).record.data
    }

    /// Changes an item's `title` and/or `done`; `nil` when there is no such item.
    /// - Throws: ``TodoInputError`` for a bad body; `.conflict` from Eventbase when the item changed
    ///   meanwhile (the caller retries).
    public func update(_ id: String, _ body: JSONValue) async throws -> JSONValue? {
        guard case .object(let changes) = body else { throw TodoInputError("The body must be a JSON object.") }
        guard let current = try await eventbase.get(id), case .object(var document) = current.data else { return nil }
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
        return try await eventbase.put(id, .object(document), expectedRevision: current.meta.revision).data
    }

    /// Deletes an item; whether it existed.
    public func delete(_ id: String) async throws -> Bool {
        try await eventbase.delete(id).existed
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
