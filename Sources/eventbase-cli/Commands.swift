import ArgumentParser
import Eventbase
import Foundation

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Store a JSON object under a key; prints the record.")

    @Argument(help: "The key.") var key: String
    @Argument(help: "The JSON object (default: standard input).") var document: String?
    @Option(help: "Only write if the key's revision is this (0: only if the key does not exist).")
    var expectedRevision: UInt64?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            let data = try readJSON(document, what: "document")
            try await withEventbase(options) { eventbase in
                let record: Record<JSONValue>
                if let expectedRevision {
                    record = try await eventbase.put(
                        key, data, expectedRevision: expectedRevision == 0 ? nil : expectedRevision)
                } else {
                    record = try await eventbase.put(key, data)
                }
                options.print(recordJSON(record))
            }
        }
    }
}

struct Insert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Store a JSON object under a new UUID key.")

    @Argument(help: "The JSON object (default: standard input).") var document: String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            let data = try readJSON(document, what: "document")
            try await withEventbase(options) { eventbase in
                options.print(recordJSON(try await eventbase.insert(data).record))
            }
        }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the record stored under a key (exit 2 if none).")

    @Argument(help: "The key.") var key: String
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            try await withEventbase(options) { eventbase in
                guard let record = try await eventbase.get(key) else {
                    throw CLIFailure(message: "No record under the key \(key.debugDescription).", exitCode: ExitCode(2))
                }
                options.print(recordJSON(record))
            }
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a key; prints how many events were purged.")

    @Argument(help: "The key.") var key: String
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            try await withEventbase(options) { eventbase in
                let result = try await eventbase.delete(key)
                options.print([
                    "key": .string(key), "existed": .bool(result.existed), "purged": .number(Double(result.purged)),
                ])
            }
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List keys, optionally those matching a regex; one per line.")

    @Argument(help: "A regular expression matched anywhere in the key.") var pattern: String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            try await withEventbase(options) { eventbase in
                for key in try await eventbase.keys(pattern) { options.print(.string(key)) }
            }
        }
    }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the documents matching a query, one per line.",
        discussion: #"Example: eventbase query '{"age": {"$gte": 18}}' --sort age:desc --limit 10 --project name,age"#)

    @Argument(help: "The query (default: standard input; '{}' for everything).") var query: String?
    @Option(help: "Sort keys, most significant first: field[:asc|desc], comma-separated.") var sort: String?
    @Option(help: "At most this many results.") var limit: Int?
    @Option(help: "Skip this many results.") var offset: Int = 0
    @Option(help: "Keep only these fields, comma-separated.") var project: String?
    @Flag(help: "Print records with their keys and meta instead of documents.") var records = false
    @OptionGroup var options: ConnectionOptions

    func queryOptions() throws -> QueryOptions {
        var keys: [SortKey] = []
        for part in (sort ?? "").split(separator: ",") where !part.isEmpty {
            let pieces = part.split(separator: ":", maxSplits: 1)
            let direction: SortDirection
            switch pieces.count == 2 ? pieces[1].lowercased() : "asc" {
            case "asc", "1": direction = .ascending
            case "desc", "-1": direction = .descending
            default: throw ValidationError("--sort takes field[:asc|desc]; got \(part).")
            }
            keys.append(SortKey(path: String(pieces[0]), direction: direction))
        }
        return QueryOptions(
            sort: SortSpecification(keys), limit: limit, offset: offset,
            project: project.map { $0.split(separator: ",").map(String.init) })
    }

    func run() async throws {
        try await EventbaseCLI.run {
            let parsed = try readJSON(query, what: "query")
            let queryOptions = try queryOptions()
            try await withEventbase(options) { eventbase in
                if records {
                    for record in try await eventbase.records(matching: parsed, options: queryOptions) {
                        options.print(recordJSON(record))
                    }
                } else {
                    for document in try await eventbase.query(parsed, options: queryOptions) { options.print(document) }
                }
            }
        }
    }
}

struct Count: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print how many documents match a query.")

    @Argument(help: "The query (default: '{}', everything).") var query: String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            let parsed = try readJSON(query ?? "{}", what: "query")
            try await withEventbase(options) { eventbase in
                options.print(.number(Double(try await eventbase.count(parsed))))
            }
        }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live query: print the matching records, then every enter/update/leave until interrupted.")

    @Argument(help: "The query (default: '{}', everything).") var query: String?
    @Flag(help: "Only print changes, not the records that match when starting.") var changesOnly = false
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            let parsed = try readJSON(query ?? "{}", what: "query")
            try await withEventbase(options) { eventbase in
                try await EventbaseCLI.untilInterrupted {
                    for try await event in eventbase.liveQuery(parsed) {
                        switch event {
                        case .existing(let record):
                            if !changesOnly { options.print(["event": "existing", "record": recordJSON(record)]) }
                        case .caughtUp:
                            if !changesOnly { options.print(["event": "caughtUp"]) }
                        case .change(let change):
                            var line: JSONObject = ["event": .string(change.kind.rawValue), "key": .string(change.key)]
                            if let data = change.data { line["data"] = data }
                            if let meta = change.meta { line["meta"] = meta.jsonValue }
                            options.print(.object(line))
                        }
                    }
                }
            }
        }
    }
}
