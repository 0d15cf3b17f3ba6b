import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The built `eventbase` binary, run as a child process against a real nats-server from the fixture.
@Suite(.enabled(if: ChildProcess.isSupported && NATSServerFixture.isAvailable), .timeLimit(.minutes(3)))
struct CLIEndToEndTests {
    /// Runs `eventbase` with `arguments` followed by `--server <url> --stream <stream>`.
    static func eventbase(
        _ arguments: [String], server: NATSServerFixture, stream: String = "cli", input: String = ""
    ) async throws -> ChildProcess.Output {
        try await ChildProcess.run(.eventbase, arguments + ["--server", server.url, "--stream", stream], input: input)
    }

    /// Asserts one line on stderr, prefixed `eventbase:`, and no stack trace.
    static func expectOneErrorLine(_ output: ChildProcess.Output, sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = output.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(output.stderr)", sourceLocation: sourceLocation)
        #expect(
            lines.first?.hasPrefix("eventbase: ") == true, "stderr: \(output.stderr)", sourceLocation: sourceLocation)
        #expect(!output.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
        #expect(output.stdout.isEmpty, "stdout: \(output.stdout)", sourceLocation: sourceLocation)
    }

    @Test func putInsertGetAndDeletePrintRecordsAsJSON() async throws {
        try await withNATSServer { server in
            let put = try await Self.eventbase(["put", "user1", #"{"name":"Ann","age":31}"#], server: server)
            #expect(put.status == 0, "stderr: \(put.stderr)")
            let record = try #require(try put.json().first)
            #expect(try put.json().count == 1)
            #expect(record["key"] == "user1")
            #expect(record["data"] == ["name": "Ann", "age": 31, "id": "user1"])
            #expect(record["meta"]?["changes"] == 1)
            #expect(record["meta"]?["revision"]?.intValue ?? 0 > 0)
            #expect(record["meta"]?["dateCreated"]?.stringValue != nil)
            #expect(record["meta"]?["dateCreated"] == record["meta"]?["dateModified"])

            // The document on standard input, both when absent and given as "-".
            let fromStdin = try await Self.eventbase(
                ["put", "user1"], server: server, input: #"{"name":"Ann","age":32}"#)
            #expect(fromStdin.status == 0, "stderr: \(fromStdin.stderr)")
            #expect(try fromStdin.json().first?["meta"]?["changes"] == 2)
            let dash = try await Self.eventbase(
                ["put", "user2", "-"], server: server, input: #"{"name":"Bob","age":17}"#)
            #expect(try dash.json().first?["data"] == ["name": "Bob", "age": 17, "id": "user2"])

            let got = try await Self.eventbase(["get", "user1"], server: server)
            #expect(got.status == 0)
            let gotRecord = try #require(try got.json().first)
            #expect(gotRecord["data"] == ["name": "Ann", "age": 32, "id": "user1"])
            #expect(gotRecord["meta"]?["changes"] == 2)

            let inserted = try await Self.eventbase(["insert", #"{"name":"Cy"}"#], server: server)
            #expect(inserted.status == 0, "stderr: \(inserted.stderr)")
            let insertedKey = try #require(try inserted.json().first?["key"]?.stringValue)
            #expect(UUID(uuidString: insertedKey) != nil)
            #expect(try inserted.json().first?["data"]?["id"] == .string(insertedKey))

            let deleted = try await Self.eventbase(["delete", "user1"], server: server)
            #expect(deleted.status == 0, "stderr: \(deleted.stderr)")
            let result = try #require(try deleted.json().first)
            #expect(result["key"] == "user1")
            #expect(result["existed"] == true)
            #expect(result["purged"]?.intValue != nil)

            let missing = try await Self.eventbase(["get", "user1"], server: server)
            #expect(missing.status == 2)
            Self.expectOneErrorLine(missing)
            let deletedAgain = try await Self.eventbase(["delete", "user1"], server: server)
            #expect(try deletedAgain.json().first?["existed"] == false)
        }
    }

    @Test func keysQueryAndCountPrintOneValuePerLine() async throws {
        try await withNATSServer { server in
            let people: [(String, String)] = [
                ("user1", #"{"name":"Ann","age":31}"#), ("user2", #"{"name":"Bob","age":17}"#),
                ("user3", #"{"name":"Cy","age":45}"#), ("admin1", #"{"name":"Di","age":52}"#),
            ]
            let input = people.map { "put \($0.0) \($0.1)" }.joined(separator: "\n") + "\n"
            let loaded = try await Self.eventbase(["shell"], server: server, input: input)
            #expect(loaded.status == 0, "stderr: \(loaded.stderr)")

            let keys = try await Self.eventbase(["keys"], server: server)
            #expect(keys.status == 0)
            #expect(try keys.json() == ["admin1", "user1", "user2", "user3"])
            let userKeys = try await Self.eventbase(["keys", "^user[12]$"], server: server)
            #expect(try userKeys.json() == ["user1", "user2"])

            let query = try await Self.eventbase(
                ["query", #"{"age":{"$gte":18}}"#, "--sort", "age:desc", "--limit", "2", "--project", "name"],
                server: server)
            #expect(query.status == 0, "stderr: \(query.stderr)")
            #expect(try query.json() == [["name": "Di"], ["name": "Cy"]])

            let paged = try await Self.eventbase(
                ["query", "--sort", "name", "--offset", "1", "--limit", "2", "--project", "name"], server: server,
                input: "{}")
            #expect(try paged.json() == [["name": "Bob"], ["name": "Cy"]])

            let records = try await Self.eventbase(["query", #"{"name":"Bob"}"#, "--records"], server: server)
            let bob = try #require(try records.json().first)
            #expect(try records.json().count == 1)
            #expect(bob["key"] == "user2")
            #expect(bob["meta"]?["changes"] == 1)

            let count = try await Self.eventbase(["count", #"{"age":{"$lt":40}}"#], server: server)
            #expect(count.status == 0)
            #expect(try count.json() == [2])
            let countAll = try await Self.eventbase(["count"], server: server)
            #expect(try countAll.json() == [4])

            let empty = try await Self.eventbase(["query", #"{"age":{"$gt":100}}"#], server: server)
            #expect(empty.status == 0)
            #expect(empty.stdout.isEmpty)
        }
    }

    @Test func prettyOutputIsIndentedJSONOfTheSameValue() async throws {
        try await withNATSServer { server in
            _ = try await Self.eventbase(["put", "k", #"{"tags":["a","b"],"n":{"x":1}}"#], server: server)
            let compact = try await Self.eventbase(["get", "k"], server: server)
            let pretty = try await Self.eventbase(["get", "k", "--pretty"], server: server)
            #expect(pretty.status == 0)
            #expect(pretty.lines.count > 5)
            #expect(pretty.lines.first == "{")
            #expect(pretty.stdout.contains("\n  \"data\": {\n"))
            #expect(try JSONValue(jsonString: pretty.stdout) == compact.json().first)
        }
    }

    @Test func watchPrintsEnterUpdateAndLeaveUntilInterrupted() async throws {
        try await withNATSServer { server in
            _ = try await Self.eventbase(["put", "ann", #"{"name":"Ann","age":31}"#], server: server)
            let watch = try ChildProcess(
                .eventbase,
                [
                    "watch", #"{"age":{"$gte":18}}"#, "--server", server.url, "--stream", "cli",
                ])
            let existing = try await watch.nextJSON()
            #expect(existing["event"] == "existing")
            #expect(existing["record"]?["key"] == "ann")
            #expect(existing["record"]?["data"]?["age"] == 31)
            #expect(try await watch.nextJSON() == ["event": "caughtUp"])

            _ = try await Self.eventbase(["put", "bob", #"{"name":"Bob","age":20}"#], server: server)
            let entered = try await watch.nextJSON()
            #expect(entered["event"] == "entered")
            #expect(entered["key"] == "bob")
            #expect(entered["data"] == ["name": "Bob", "age": 20, "id": "bob"])
            #expect(entered["meta"]?["changes"] == 1)

            _ = try await Self.eventbase(["put", "bob", #"{"name":"Bob","age":21}"#], server: server)
            let updated = try await watch.nextJSON()
            #expect(updated["event"] == "updated")
            #expect(updated["data"]?["age"] == 21)
            #expect(updated["meta"]?["changes"] == 2)

            _ = try await Self.eventbase(["put", "kid", #"{"name":"Kid","age":9}"#], server: server)
            _ = try await Self.eventbase(["put", "ann", #"{"name":"Ann","age":12}"#], server: server)
            let left = try await watch.nextJSON()  // the kid never matched: no line for it
            #expect(left["event"] == "left")
            #expect(left["key"] == "ann")

            _ = try await Self.eventbase(["delete", "bob"], server: server)
            let deleted = try await watch.nextJSON()
            #expect(deleted == ["event": "left", "key": "bob"])

            watch.send(SIGINT)
            let output = try await watch.waitForExit(timeout: .seconds(30))
            #expect(!output.signalled)
            #expect(output.status == 0, "stderr: \(output.stderr)")
            #expect(output.stderr.isEmpty)
        }
    }

    @Test func statsFollowsTheStatsStreamUntilInterrupted() async throws {
        try await withNATSServer { server in
            let stats = try ChildProcess(.eventbase, ["stats", "--server", server.url, "--stream", "cli"])
            try await stats.waitForStderrLines(1)  // "following cli_stats.stats" once subscribed
            let eventbase = try await Eventbase.builder(streamName: "cli")
                .nats(NATSOptions(servers: [server.url]))
                .statsStreamName("cli_stats")
                .build()
            _ = try await eventbase.put("k", ["n": 1])
            _ = try await eventbase.get("k")
            var operations: [JSONValue] = []
            while !operations.contains("GET") {
                let stat = try await stats.nextJSON()
                #expect(stat["timestamp"]?.intValue != nil)
                #expect(stat["duration"] != nil)
                operations.append(stat["operation"] ?? .null)
            }
            #expect(operations.contains("PUT"))
            await eventbase.close()
            stats.send(SIGINT)
            let output = try await stats.waitForExit(timeout: .seconds(30))
            #expect(!output.signalled)
            #expect(output.status == 0, "stderr: \(output.stderr)")
        }
    }

    @Test func streamsListInfoAndDelete() async throws {
        try await withNATSServer { server in
            _ = try await Self.eventbase(["put", "a", #"{"n":1}"#], server: server, stream: "orders")
            _ = try await Self.eventbase(["put", "b", #"{"n":2}"#], server: server, stream: "orders")
            _ = try await Self.eventbase(["put", "a", #"{"n":1}"#], server: server, stream: "users")

            let list = try await Self.eventbase(["streams", "list"], server: server)
            #expect(list.status == 0, "stderr: \(list.stderr)")
            #expect(try Set(list.json()) == ["orders", "users"])

            let info = try await Self.eventbase(["streams", "info", "orders"], server: server)
            #expect(info.status == 0, "stderr: \(info.stderr)")
            let state = try #require(try info.json().first)
            #expect(state["name"] == "orders")
            #expect(state["messages"]?.intValue ?? 0 >= 2)
            #expect(state["bytes"]?.intValue ?? 0 > 0)
            #expect(state["lastSequence"] == 2)
            #expect(state["firstSequence"]?.intValue != nil)
            #expect(state["consumers"]?.intValue != nil)
            let byOption = try await Self.eventbase(["streams", "info"], server: server, stream: "users")
            #expect(try byOption.json().first?["name"] == "users")

            let unconfirmed = try await Self.eventbase(["streams", "delete", "orders"], server: server)
            #expect(unconfirmed.status == 64)
            Self.expectOneErrorLine(unconfirmed)

            let deleted = try await Self.eventbase(["streams", "delete", "orders", "--yes"], server: server)
            #expect(deleted.status == 0, "stderr: \(deleted.stderr)")
            #expect(try deleted.json() == [["deleted": "orders"]])
            let after = try await Self.eventbase(["streams", "list"], server: server)
            #expect(try after.json() == ["users"])

            let gone = try await Self.eventbase(["streams", "info", "orders"], server: server)
            #expect(gone.status == 2)
            Self.expectOneErrorLine(gone)
        }
    }

    @Test func theShellRunsCommandsFromStandardInput() async throws {
        try await withNATSServer { server in
            let input = """
                put "my key" {"name":"Ann","age":31}
                get "my key"
                insert {"name":"Bob"}
                bogus
                count {"name":"Ann"}
                keys ^my
                query {"name":"Ann"}
                delete "my key"
                get "my key"
                quit
                put never {"n":1}

                """
            let shell = try await Self.eventbase(["shell"], server: server, input: input)
            #expect(shell.status == 0, "stderr: \(shell.stderr)")
            let lines = try shell.json()
            try #require(lines.count == 8, "stdout: \(shell.stdout)")
            #expect(lines[0]["key"] == "my key")
            #expect(lines[1]["data"] == ["name": "Ann", "age": 31, "id": "my key"])
            #expect(lines[2]["data"]?["name"] == "Bob")
            #expect(lines[3] == 1)
            #expect(lines[4] == "my key")
            #expect(lines[5] == ["name": "Ann", "age": 31, "id": "my key"])
            #expect(lines[6]["existed"] == true)
            #expect(lines[7] == .null)
            #expect(shell.stderr.split(separator: "\n").count == 1)
            #expect(shell.stderr.contains("bogus"))
            // `quit` ended the shell: the last put never ran.
            let never = try await Self.eventbase(["get", "never"], server: server)
            #expect(never.status == 2)
        }
    }

    @Test func invalidJSONAndQueriesExitWith65() async throws {
        try await withNATSServer { server in
            let badDocument = try await Self.eventbase(["put", "k", "{bad"], server: server)
            #expect(badDocument.status == 65)
            Self.expectOneErrorLine(badDocument)

            let badStdin = try await Self.eventbase(["insert"], server: server, input: "[1, 2")
            #expect(badStdin.status == 65)
            Self.expectOneErrorLine(badStdin)

            let noDocument = try await Self.eventbase(["put", "k"], server: server, input: "")
            #expect(noDocument.status == 65)
            Self.expectOneErrorLine(noDocument)

            let notAnObject = try await Self.eventbase(["put", "k", "[1,2]"], server: server)
            #expect(notAnObject.status == 65)
            Self.expectOneErrorLine(notAnObject)

            let unknownOperator = try await Self.eventbase(["query", #"{"age":{"$foo":1}}"#], server: server)
            #expect(unknownOperator.status == 65)
            Self.expectOneErrorLine(unknownOperator)

            let badRegex = try await Self.eventbase(["count", #"{"name":{"$regex":"("}}"#], server: server)
            #expect(badRegex.status == 65)
            Self.expectOneErrorLine(badRegex)

            let badWatch = try await Self.eventbase(["watch", #"{"$and":5}"#], server: server)
            #expect(badWatch.status == 65)
            Self.expectOneErrorLine(badWatch)
        }
    }

    @Test func usageErrorsExitWith64AndConflictsWith3() async throws {
        try await withNATSServer { server in
            let unknownOption = try await Self.eventbase(["get", "k", "--frobnicate"], server: server)
            #expect(unknownOption.status == 64)
            #expect(unknownOption.stdout.isEmpty)
            #expect(!unknownOption.stderr.isEmpty)

            let badTimeout = try await Self.eventbase(["get", "k", "--timeout", "0"], server: server)
            #expect(badTimeout.status == 64)

            let badSort = try await Self.eventbase(["query", "{}", "--sort", "age:sideways"], server: server)
            #expect(badSort.status == 64)
            Self.expectOneErrorLine(badSort)

            let first = try await Self.eventbase(["put", "k", #"{"n":1}"#, "--expected-revision", "0"], server: server)
            #expect(first.status == 0, "stderr: \(first.stderr)")
            let revision = try #require(try first.json().first?["meta"]?["revision"]?.intValue)
            let stale = try await Self.eventbase(
                ["put", "k", #"{"n":2}"#, "--expected-revision", String(revision + 5)], server: server)
            #expect(stale.status == 3)
            Self.expectOneErrorLine(stale)
            let exists = try await Self.eventbase(
                ["put", "k", #"{"n":2}"#, "--expected-revision", "0"], server: server)
            #expect(exists.status == 3)
            let current = try await Self.eventbase(
                ["put", "k", #"{"n":2}"#, "--expected-revision", String(revision)], server: server)
            #expect(current.status == 0, "stderr: \(current.stderr)")
        }
    }

    @Test(arguments: [["get", "k"], ["put", "k", #"{"n":1}"#], ["streams", "list"], ["stats"], ["watch"]])
    func anUnreachableServerFailsWithExitCode4(command: [String]) async throws {
        // A port nothing listens on: the server was started to find a free port, then stopped.
        let server = try await NATSServerFixture.start()
        await server.stop()
        let output = try await ChildProcess.run(
            .eventbase,
            command + ["--server", server.url, "--timeout", "1"], timeout: .seconds(60))
        await server.stopAndRemove()
        #expect(output.status == 4, "stderr: \(output.stderr)")
        Self.expectOneErrorLine(output)
    }

    @Test func aServerThatDoesNotAnswerFailsWithinTheTimeoutWithExitCode4() async throws {
        try await withNATSServer { server in
            // A stopped (SIGSTOP) server accepts the connection in the kernel but never answers.
            server.pause()
            let output = try await ChildProcess.run(
                .eventbase,
                ["get", "k", "--server", server.url, "--timeout", "1"], timeout: .seconds(60))
            server.resume()
            #expect(output.status == 4, "stderr: \(output.stderr)")
            Self.expectOneErrorLine(output)
        }
    }

    @Test func memoryModeNeedsNoServer() async throws {
        let output = try await ChildProcess.run(
            .eventbase,
            ["shell", "--memory"], input: "put a {\"n\":1}\ncount\n", timeout: .seconds(60))
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(try output.json().last == 1)
        let needsServer = try await ChildProcess.run(
            .eventbase, ["streams", "list", "--memory"], timeout: .seconds(60))
        #expect(needsServer.status == 64)
        Self.expectOneErrorLine(needsServer)
    }
}
