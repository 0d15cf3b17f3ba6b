import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Messages that are not valid events are classified the same way wherever they are decoded.
@Suite struct InvalidEntryTests {
    static let poison = PoisonMessage.all(stream: "shop")

    /// Each poison message becomes an `.invalid` entry of its kind, whose reason never quotes the payload.
    @Test(arguments: poison)
    func poisonIsClassified(_ message: PoisonMessage) {
        let headers = message.headers
        let entry = EventCodec.entry(
            sequence: 7, time: Date(timeIntervalSince1970: 1), subject: message.subject, stream: "shop",
            payload: message.payload, header: { name in headers.first { $0.name == name }?.value })
        guard case .invalid(let subject, let reason, let kind) = entry.payload else {
            Issue.record("\(message) decoded as an event")
            return
        }
        #expect(kind == message.kind, "\(message): \(reason)")
        #expect(subject == message.subject)
        #expect(entry.sequence == 7)
        #expect(!reason.isEmpty)
        if !message.secret.isEmpty { #expect(!reason.contains(message.secret)) }
    }

    /// The throwing decoder agrees: `.invalidJSON`, or `.limitExceeded` for payloads past the JSON limits.
    @Test(arguments: poison)
    func decodeThrowsATypedError(_ message: PoisonMessage) {
        let error = #expect(throws: EventbaseError.self) {
            _ = try EventCodec.decode(subject: message.subject, stream: "shop", payload: message.payload)
        }
        #expect(error?.code == (message.kind == .tooLarge ? .limitExceeded : .invalidJSON))
    }

    /// A valid event still decodes through the entry path, with its headers.
    @Test func aValidEventIsAnEvent() {
        let event = Event(kind: .put, key: "a", data: ["n": 1], timestamp: 5, eventID: "e1", changes: 2)
        let headers = EventCodec.headers(for: event)
        let entry = EventCodec.entry(
            sequence: 1, time: Date(timeIntervalSince1970: 1),
            subject: EventCodec.subject(stream: "shop", key: "a", kind: .put), stream: "shop",
            payload: EventCodec.encodePayload(event), header: { name in headers.first { $0.name == name }?.value })
        #expect(entry.event == event)
    }

    /// Kinds have stable names, in order, with no duplicates.
    @Test func kindsHaveStableNames() {
        let names = InvalidEntryKind.allKinds.map(\.description)
        #expect(names == names.sorted())
        #expect(Set(names).count == names.count)
        #expect(names.contains("not-json"))
        #expect(names.contains("unexpected-subject"))
    }
}
