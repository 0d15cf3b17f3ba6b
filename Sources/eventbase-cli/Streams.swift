import ArgumentParser
import Eventbase
import Foundation

struct Streams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect and delete streams on the server.", subcommands: [List.self, Info.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the server's streams, one name per line.")
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try await EventbaseCLI.run {
                try await options.withConnection { transport, _ in
                    var offset = 0
                    while true {
                        let request: JSONValue = ["offset": .number(Double(offset))]
                        let reply = try await transport.request(
                            "$JS.API.STREAM.NAMES", payload: request.jsonBytes(),
                            timeout: .milliseconds(Int(options.timeout * 1000)))
                        let json = try JSONValue(jsonBytes: reply.payload)
                        if let description = json["error"]?["description"]?.stringValue {
                            throw EventbaseError(.serverError, "The server refused to list streams: \(description).")
                        }
                        let names = json["streams"]?.arrayValue ?? []
                        for name in names { options.print(name) }
                        offset += names.count
                        if names.isEmpty || offset >= json["total"]?.intValue ?? 0 { return }
                    }
                }
            }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a stream's state (messages, bytes, sequences).")
        @Argument(help: "The stream (default: --stream).") var name: String?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try await EventbaseCLI.run {
                let stream = name ?? options.streamName
                try await options.withConnection { _, jetStream in
                    let info = try await jetStream.streamInfo(stream)
                    var object: JSONObject = [
                        "name": .string(stream), "messages": .number(Double(info.messages)),
                        "bytes": .number(Double(info.bytes)),
                        "firstSequence": .number(Double(info.firstSequence)),
                        "lastSequence": .number(Double(info.lastSequence)),
                        "consumers": .number(Double(info.consumerCount)),
                    ]
                    if let created = info.created { object["created"] = .string(created.formatted(.iso8601)) }
                    options.print(.object(object))
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete a stream and every event in it (asks no questions: --yes is required).")
        @Argument(help: "The stream (default: --stream).") var name: String?
        @Flag(help: "Confirm the deletion.") var yes = false
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try await EventbaseCLI.run {
                let stream = name ?? options.streamName
                guard yes else {
                    throw ValidationError("Deleting stream \(stream) loses all its events; pass --yes to confirm.")
                }
                try await options.withConnection { _, jetStream in
                    try await jetStream.deleteStream(stream)
                    options.print(["deleted": .string(stream)])
                }
            }
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print operation stats as instances publish them, until interrupted.",
        discussion: "Instances publish stats when built with a stats stream name (default here: <stream>_stats).")

    @Option(name: .customLong("stats-stream"), help: "The stats stream (default: <stream>_stats).") var statsStream:
        String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await EventbaseCLI.run {
            let name = statsStream ?? "\(options.streamName)_stats"
            try await options.withConnection { transport, _ in
                let subscription = try await transport.subscribe("\(name).stats")
                // Once the server has the subscription, say so: stats published from now on are printed.
                try await transport.flush(timeout: .milliseconds(Int(options.timeout * 1000)))
                FileHandle.standardError.write(Data("eventbase: following \(name).stats (Ctrl-C to stop)\n".utf8))
                try await EventbaseCLI.untilInterrupted {
                    for try await message in subscription {
                        guard let stat = try? JSONValue(jsonBytes: message.payload) else { continue }
                        options.print(stat)
                    }
                }
                await subscription.unsubscribe()
            }
        }
    }
}
