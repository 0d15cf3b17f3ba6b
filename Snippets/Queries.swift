// Queries: MongoDB-style operators, sorting, paging and projection, over the local replica.
import Eventbase

// snippet.hide
let eventbase = try await Eventbase.builder(streamName: "queries").inMemory().build()
// snippet.show
try await eventbase.put("ann", ["name": "Ann", "age": 31, "status": "active", "tags": ["admin"]])
try await eventbase.put("bob", ["name": "Bob", "age": 17, "status": "pending"])
try await eventbase.put("cy", ["name": "Cy", "age": 45, "status": "active", "address": ["city": "Oslo"]])

// Operators: $eq $ne $gt $gte $lt $lte $in $nin $all $exists $not $regex $sw $and $or $nor.
let adults = try await eventbase.query(["age": ["$gte": 18], "status": ["$in": ["active", "pending"]]])
let named = try await eventbase.query([
    "$or": [["name": ["$regex": "^b", "$options": "i"]], ["tags": "admin"]]
])
let inOslo = try await eventbase.query(["address.city": "Oslo"])  // dotted paths reach into objects

// Sort keys keep the order they are written in; limit and offset page after sorting.
let page = try await eventbase.query(
    [:],
    options: QueryOptions(sort: ["age": .descending, "name": .ascending], limit: 2, offset: 0, project: ["name"]))
print(adults.count, named.count, inOslo.count, page.map { $0.jsonString() })  // 2 2 1 [{"name":"Cy"},{"name":"Ann"}]

// Records with their keys and meta, typed results, and counts.
struct Person: Decodable { var name: String }
let records = try await eventbase.records(matching: ["status": "active"])
let people = try await eventbase.query(["status": "active"], as: Person.self)
let total = try await eventbase.count()  // everything
let active = try await eventbase.count(["status": "active"])
print(records.map(\.key), people.map(\.name), total, active)

// A malformed query is an error, never a silent non-match.
do {
    _ = try await eventbase.query(["age": ["$approximately": 30]])
} catch let error as EventbaseError where error.code == .invalidQuery {
    print(error.message)
}
// snippet.hide
await eventbase.close()
