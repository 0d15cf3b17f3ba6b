import Eventbase
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The live query behind `GET /api/todos/events`, as server-sent events.
///
/// - `event: snapshot` with every item (a JSON array, oldest first), once the live query has caught up;
/// - then `event: change` with `{"kind": "entered" | "updated" | "left", "id", "todo"}` for each change,
///   in log order (`todo` is `null` when it left).
///
/// The feed ends when the server shuts down gracefully, the instance closes, or the client goes away
/// (the next write fails).
enum LiveFeed {
    static func stream(_ eventbase: Eventbase, to writer: inout any ResponseBodyWriter) async throws {
        var existing: [JSONValue] = []
        // A comment first, so the client sees the response start at once.
        try await writer.write(ByteBuffer(string: ": live\n\n"))
        for try await event in eventbase.liveQuery([:]).cancelOnGracefulShutdown() {
            switch event {
            case .existing(let record):
                existing.append(record.data)
            case .caughtUp:
                existing.sort { ($0["createdAt"]?.doubleValue ?? 0) < ($1["createdAt"]?.doubleValue ?? 0) }
                try await writer.write(message("snapshot", .array(existing)))
                existing = []
            case .change(let change):
                let payload: JSONValue = [
                    "kind": .string(change.kind.rawValue), "id": .string(change.key), "todo": change.data ?? .null,
                ]
                try await writer.write(message("change", payload))
            }
        }
    }

    static func message(_ event: String, _ data: JSONValue) -> ByteBuffer {
        // JSON without raw newlines fits one `data:` line.
        ByteBuffer(string: "event: \(event)\ndata: \(data.jsonString())\n\n")
    }
}
