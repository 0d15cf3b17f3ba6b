import ArgumentParser
import Eventbase
import Foundation

@main
struct EventbaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventbase",
        abstract: "Read, write, query and watch an Eventbase stream.",
        discussion: """
            Documents and queries are JSON, given as an argument or on standard input. Output is JSON on \
            standard output, one document per line (--pretty for humans). Errors are one line on standard \
            error; the exit code says what went wrong: 1 other failure, 2 not found (a key or a stream), 3 conflict, \
            4 server unreachable or timed out, 64 usage, 65 invalid JSON or query.
            """,
        subcommands: [
            Put.self, Insert.self, Get.self, Delete.self, Keys.self, Query.self, Count.self, Watch.self, Stats.self,
            Streams.self, Shell.self, Bench.self,
        ]
    )
}
