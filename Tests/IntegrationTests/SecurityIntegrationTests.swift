import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Users without permissions get typed errors from the operation that needed the permission, the
/// connection stays usable, and no credential ever reaches the logs or error descriptions.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(2)))
struct SecurityIntegrationTests {
    static let stream = "ledger"
    static let users: [NATSServerFixture.User] = [
        .init(user: "admin", password: "admin-S3cret-pw"),
        .init(user: "nopub", password: "nopub-S3cret-pw", denyPublish: ["\(stream).>"]),
        .init(user: "noapi", password: "noapi-S3cret-pw", denyPublish: ["$JS.API.>"]),
        .init(user: "nosub", password: "nosub-S3cret-pw", denySubscribe: ["_INBOX.>"]),
    ]
    static var secrets: [String] { users.compactMap(\.password) + ["wrong-S3cret-pw"] }

    private func builder(_ server: NATSServerFixture, user: String, password: String, logs: LogCapture)
        -> EventbaseBuilder
    {
        var options = testNATSOptions(server)
        options.user = user
        options.password = password
        return Eventbase.builder(streamName: Self.stream).stateStore(InMemoryStateStore())
            .nats(options, stream: testStreamOptions()).logger(logs.logger())
            .configure { $0.openTimeout = .seconds(20) }
    }

    private func expectNoSecrets(_ text: String, _ what: String) {
        for secret in Self.secrets { #expect(!text.contains(secret), "\(what) reveals a password") }
    }

    @Test func permissionsAreTypedErrorsOnTheOperationThatNeedsThem() async throws {
        try await withNATSServer(.init(users: Self.users)) { server in
            let logs = LogCapture()
            var described = ""
            let admin = try await builder(server, user: "admin", password: "admin-S3cret-pw", logs: logs).build()
            _ = try await admin.put("a", ["n": 1])

            // No publish on the stream's subjects: open and reads work, a put is .permissionDenied, and
            // the instance keeps following the stream.
            let reader = try await builder(server, user: "nopub", password: "nopub-S3cret-pw", logs: logs).build()
            #expect(try await reader.get("a")?.data["n"] == 1)
            for _ in 0..<2 {
                let error = await #expect(throws: EventbaseError.self) { try await reader.put("b", ["n": 2]) }
                #expect(error?.code == .permissionDenied, "got \(String(describing: error))")
                described += String(describing: error) + String(reflecting: error)
            }
            _ = try await admin.put("c", ["n": 3])
            try await eventually(reader, "the reader follows writes after its denied put") {
                try await reader.get("c") != nil
            }
            #expect(try await reader.keys() == ["a", "c"])

            // No JetStream API, or no subscriptions: opening fails with .permissionDenied, not a timeout.
            for user in ["noapi", "nosub"] {
                let error = await #expect(throws: EventbaseError.self) {
                    _ = try await builder(server, user: user, password: "\(user)-S3cret-pw", logs: logs).build()
                }
                #expect(error?.code == .permissionDenied, "\(user): got \(String(describing: error))")
                described += String(describing: error) + String(reflecting: error)
            }

            // Wrong password: .authenticationFailed.
            let error = await #expect(throws: EventbaseError.self) {
                _ = try await builder(server, user: "admin", password: "wrong-S3cret-pw", logs: logs).build()
            }
            #expect(error?.code == .authenticationFailed, "got \(String(describing: error))")
            described += String(describing: error) + String(reflecting: error)

            expectNoSecrets(logs.text, "the log")
            expectNoSecrets(described, "an error")
            #expect(!logs.records.isEmpty, "the failures were logged")
            await reader.close()
            try await admin.deleteStream()
        }
    }
}
