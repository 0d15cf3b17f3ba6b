// Quick start: the whole API in memory, no server needed.
import Eventbase

// snippet.show
let eventbase = try await Eventbase.builder(streamName: "myapp")
    .inMemory()  // .nats(…) for a real server: see the NATSBackend snippet
    .build()  // returns once the local replica has caught up

// A write returns once this instance has applied it: you always read your own writes.
let record = try await eventbase.put("user123", ["name": "John Doe", "age": 31])
print(record.data.jsonString())  // {"name":"John Doe","age":31,"id":"user123"}
print(record.meta.changes, record.meta.revision)  // 1, and the event's log sequence

// Any Codable type works as a document.
struct User: Codable, Sendable {
    var name: String
    var age: Int
}
try await eventbase.put("user124", User(name: "Ann", age: 40))
if let ann = try await eventbase.get("user124", as: User.self) {
    print(ann.data.name, ann.meta.dateCreated)
}

// insert picks a UUID key.
let inserted = try await eventbase.insert(["name": "Cy"])
print(inserted.id, inserted.record.data.jsonString())

// Reads are local: no network round trip.
print(try await eventbase.keys())  // every key, sorted
print(try await eventbase.keys("^user"))  // keys matching a regular expression
print(try await eventbase.get("missing") == nil)  // a missing key is nil, not an error

let deleted = try await eventbase.delete("user123")
print(deleted.existed, deleted.purged)

await eventbase.close()
