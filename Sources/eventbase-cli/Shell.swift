import ArgumentParser
import Eventbase
import Foundation

struct Shell: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run commands read from standard input against one open stream (try it with --memory).",
        discussion: """
            Commands, one per line: put KEY JSON, insert JSON, get KEY, delete KEY, keys [REGEX], \
            query JSON, count [JSON], help, quit. A KEY with spaces is written as a JSON string ("my key"). \
            A failing command prints one line on standard error and the shell goes on.
            """)

    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            try await withEventbase(options) { eventbase in
                let interactive = isatty(STDIN_FILENO) != 0
                if interactive { FileHandle.standardError.write(Data("eventbase shell: type help\n".utf8)) }
                while true {
                    if interactive { FileHandle.standardError.write(Data("> ".utf8)) }
                    guard let line = readLine() else { return }
                    let trimmed = line.trimmingCharacters(in: .whitespaces)
                    if trimmed.isEmpty { continue }
                    if trimmed == "quit" || trimmed == "exit" { return }
                    do {
                        try await execute(trimmed, on: eventbase)
                    } catch let error as EventbaseError {
                        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
                    } catch let failure as CLIFailure {
                        FileHandle.standardError.write(Data("error: \(failure.message)\n".utf8))
                    }
                }
            }
        }
    }

    /// Splits `put KEY JSON` into the command, the key and the rest.
    static func split(_ line: String) throws -> (command: String, key: String?, rest: String) {
        let command = String(line.prefix { !$0.isWhitespace })
        var rest = line.dropFirst(command.count).drop { $0.isWhitespace }
        guard ["put", "get", "delete"].contains(command) else { return (command, nil, String(rest)) }
        if rest.first == "\"" {
            var end = rest.index(after: rest.startIndex)
            var escaped = false
            while end < rest.endIndex, escaped || rest[end] != "\"" {
                escaped = !escaped && rest[end] == "\\"
                end = rest.index(after: end)
            }
            guard end < rest.endIndex, case .string(let key) = try JSONValue(jsonString: String(rest[...end])) else {
                throw EventbaseError(.invalidArgument, "The quoted key is not a valid JSON string.")
            }
            return (command, key, String(rest[rest.index(after: end)...].drop { $0.isWhitespace }))
        }
        let key = String(rest.prefix { !$0.isWhitespace })
        rest = rest.dropFirst(key.count).drop { $0.isWhitespace }
        return (command, key.isEmpty ? nil : key, String(rest))
    }

    func execute(_ line: String, on eventbase: Eventbase) async throws {
        let (command, key, rest) = try Self.split(line)
        func needKey() throws -> String {
            guard let key else { throw EventbaseError(.invalidArgument, "\(command) needs a key.") }
            return key
        }
        switch command {
        case "put":
            options.print(recordJSON(try await eventbase.put(try needKey(), try readJSON(rest, what: "document"))))
        case "insert":
            options.print(recordJSON(try await eventbase.insert(try readJSON(rest, what: "document")).record))
        case "get":
            if let record = try await eventbase.get(try needKey()) {
                options.print(recordJSON(record))
            } else {
                options.print(nil)
            }
        case "delete":
            let result = try await eventbase.delete(try needKey())
            options.print(["existed": .bool(result.existed), "purged": .number(Double(result.purged))])
        case "keys":
            for key in try await eventbase.keys(rest.isEmpty ? nil : rest) { options.print(.string(key)) }
        case "query":
            for document in try await eventbase.query(try readJSON(rest.isEmpty ? "{}" : rest, what: "query")) {
                options.print(document)
            }
        case "count":
            options.print(
                .number(Double(try await eventbase.count(try readJSON(rest.isEmpty ? "{}" : rest, what: "query")))))
        case "help":
            FileHandle.standardError.write(Data((Self.configuration.discussion + "\n").utf8))
        default:
            throw EventbaseError(.invalidArgument, "Unknown command \(command); type help.")
        }
    }
}
