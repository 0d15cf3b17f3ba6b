import Eventbase
import EventbaseTestKit
import Testing

@Suite struct APITests {
    @Test func addListUpdateAndDeleteThroughTheAPIWithTwoServersOnOneStream() async throws {
        try await withNATSServer { nats in
            let a = try await TestServer.start(nats: nats, stream: "todos")
            let b = try await TestServer.start(nats: nats, stream: "todos")

            let (created, added) = try await a.request("POST", "/api/todos", ["title": "  Buy milk "])
            #expect(created == 201)
            let id = try #require(added?["id"]?.stringValue)
            #expect(added?["title"] == "Buy milk")
            #expect(added?["done"] == false)

            // B serves the same list: a write through A is durable in the stream, and B's replica
            // follows it. Wait on B's replica rather than polling the API.
            try await b.eventbase.waitForRecord(id)
            let (listed, list) = try await b.request("GET", "/api/todos")
            #expect(listed == 200)
            #expect(list?.arrayValue?.compactMap { $0["title"]?.stringValue } == ["Buy milk"])

            let (updated, changed) = try await b.request("PATCH", "/api/todos/\(id)", ["done": true])
            #expect(updated == 200)
            #expect(changed?["done"] == true)
            #expect(changed?["title"] == "Buy milk")

            #expect(try await a.request("PATCH", "/api/todos/missing", ["done": true]).0 == 404)
            #expect(try await a.request("POST", "/api/todos", ["title": ""]).0 == 400)
            #expect(try await a.request("POST", "/api/todos", ["title": 3]).0 == 400)
            #expect(try await a.request("PATCH", "/api/todos/\(id)", ["owner": "x"]).0 == 400)

            let (health, report) = try await a.request("GET", "/api/health")
            #expect(health == 200)
            #expect(report?["healthy"] == true)
            #expect(report?["connection"] == "connected")

            #expect(try await a.request("DELETE", "/api/todos/\(id)").0 == 204)
            #expect(try await a.request("DELETE", "/api/todos/\(id)").0 == 404)
            #expect(try await a.request("GET", "/api/todos").1 == [])

            // A write through one server, then a read through the other with the revision it
            // returned: the read waits until that server's replica has applied it, every time.
            for round in 0..<20 {
                let (status, item, revision) = try await a.exchange(
                    "POST", "/api/todos", ["title": .string("item \(round)")],
                    headers: ["Idempotency-Key": "add-\(round)"])
                #expect(status == 201)
                let written = try #require(revision)
                let (_, list, _) = try await b.exchange("GET", "/api/todos", headers: ["Eventbase-Revision": written])
                #expect(list?.arrayValue?.contains { $0["id"] == item?["id"] } == true, "round \(round)")
                // A retried request (same idempotency key) adds nothing.
                let (_, again, repeated) = try await b.exchange(
                    "POST", "/api/todos", ["title": .string("item \(round)")],
                    headers: ["Idempotency-Key": "add-\(round)"])
                #expect(again?["id"] == item?["id"] && repeated == written)
            }
            #expect(try await b.request("GET", "/api/todos").1?.arrayValue?.count == 20)
            #expect(try await a.exchange("GET", "/api/todos", headers: ["Eventbase-Revision": "x"]).0 == 400)

            try await a.stop()
            try await b.stop()
            #expect(a.eventbase.isClosed)
            #expect(b.eventbase.isClosed)
        }
    }
}

extension Eventbase {
    /// Returns once this instance's replica holds `key` (bounded).
    func waitForRecord(_ key: String) async throws {
        let changes = self.changes(matching: [:])
        if try await get(key) != nil { return }
        try await withTimeout(.seconds(10), "\(key) to replicate") {
            for try await change in changes where change.key == key { return }
        }
    }
}
