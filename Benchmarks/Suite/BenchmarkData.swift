package import EventbaseCore

/// The records every benchmark writes and reads: about 155 bytes of event JSON each.
package enum BenchmarkData {
    static let cities: [JSONValue] = ["Oslo", "Rome", "Lima", "Kyiv", "Pune", "Baku", "Doha", "Riga"]

    /// The key of record `index`.
    package static func key(_ index: Int) -> String { "k\(index)" }

    /// The document of record `index`: a name, an age (0-89), one of eight cities, an email and a flag.
    package static func document(_ index: Int) -> JSONValue {
        [
            "name": .string("user \(index)"), "age": .number(Double(index % 90)),
            "city": cities[index % cities.count], "email": .string("user\(index)@example.com"),
            "active": .bool(index % 3 == 0),
        ]
    }

    /// The put event of record `index`.
    package static func event(_ index: Int) -> Event {
        Event(kind: .put, key: key(index), data: document(index), timestamp: 1_700_000_000_000)
    }

    /// The JSON payload of record `index`'s put event, as Eventbase publishes it.
    package static func payload(_ index: Int) -> [UInt8] { EventCodec.encodePayload(event(index)) }

    /// The subject of record `index`'s put event on `stream`.
    package static func subject(stream: String, _ index: Int) -> String {
        EventCodec.subject(stream: stream, key: key(index), kind: .put)
    }

    /// The size of a typical event payload (record 500,000's).
    package static var messageSize: Int { payload(500_000).count }

    /// The bytes of record `index`'s stored document (its data with `id`) as JSON.
    package static func documentJSONBytes(_ index: Int) -> Int {
        guard case .object(var object) = document(index) else { return 0 }
        object["id"] = .string(key(index))
        return JSONValue.object(object).jsonBytes().count
    }
}
