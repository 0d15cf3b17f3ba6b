import ArgumentParser
import Eventbase
import Testing

@testable import eventbase

@Suite struct CLITests {
    @Test(
        arguments: [
            ("put user1 {\"a\":1}", "put", "user1", "{\"a\":1}"),
            ("put \"my key\" {\"a\":1}", "put", "my key", "{\"a\":1}"),
            ("get \"quote \\\" inside\"", "get", "quote \" inside", ""),
            ("keys ^user", "keys", nil, "^user"),
            ("count", "count", nil, ""),
        ] as [(String, String, String?, String)])
    func shellLinesSplitIntoCommandKeyAndRest(line: String, command: String, key: String?, rest: String) throws {
        let split = try Shell.split(line)
        #expect(split.command == command)
        #expect(split.key == key)
        #expect(split.rest == rest)
    }

    @Test func queryOptionsParseSortLimitOffsetAndProjection() throws {
        let command = try Query.parse([
            "{}", "--sort", "age:desc,name", "--limit", "5", "--offset", "2", "--project", "name,age",
        ])
        let options = try command.queryOptions()
        #expect(
            options.sort.keys == [
                SortKey(path: "age", direction: .descending), SortKey(path: "name", direction: .ascending),
            ])
        #expect(options.limit == 5)
        #expect(options.offset == 2)
        #expect(options.project == ["name", "age"])
        let bad = try Query.parse(["{}", "--sort", "age:sideways"])
        #expect(throws: ValidationError.self) { try bad.queryOptions() }
    }

    @Test func errorsMapToDistinctExitCodes() {
        #expect(CLIFailure(EventbaseError(.invalidQuery, "x")).exitCode == ExitCode(65))
        #expect(CLIFailure(EventbaseError(.invalidJSON, "x")).exitCode == ExitCode(65))
        #expect(CLIFailure(EventbaseError(.streamNotFound, "x")).exitCode == ExitCode(2))
        #expect(CLIFailure(EventbaseError(.conflict, "x")).exitCode == ExitCode(3))
        #expect(CLIFailure(EventbaseError(.unavailable, "x")).exitCode == ExitCode(4))
        #expect(CLIFailure(EventbaseError(.timeout, "x")).exitCode == ExitCode(4))
        #expect(CLIFailure(EventbaseError(.storageFailure, "x")).exitCode == ExitCode(1))
    }

    @Test func invalidJSONArgumentsAreTypedErrors() throws {
        #expect {
            try readJSON("{bad", what: "document")
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidJSON
        }
        #expect(try readJSON("{\"a\":[1,2]}", what: "document") == ["a": [1, 2]])
    }

    @Test func theShellRunsCommandsAgainstAnInstance() async throws {
        let shell = try Shell.parse(["--memory"])
        let eventbase = try await Eventbase.builder(streamName: "cli").inMemory().build()
        try await shell.execute("put \"a b\" {\"n\":1}", on: eventbase)
        try await shell.execute("insert {\"n\":2}", on: eventbase)
        #expect(try await eventbase.get("a b")?.data["n"] == 1)
        #expect(try await eventbase.count() == 2)
        try await shell.execute("delete \"a b\"", on: eventbase)
        #expect(try await eventbase.get("a b") == nil)
        await #expect(throws: EventbaseError.self) { try await shell.execute("frobnicate", on: eventbase) }
        await #expect(throws: EventbaseError.self) { try await shell.execute("put", on: eventbase) }
        await eventbase.close()
    }
}
