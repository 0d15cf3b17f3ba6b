// The to-do server: `swift run TodoApp --port 8080 [--nats nats://127.0.0.1:4222] [--stream todos]`.
import Eventbase
import EventbaseServiceLifecycle
import Foundation
import Logging
import ServiceLifecycle
import TodoServer
import UnixSignals

struct Arguments {
    var port = 8080
    var host = "127.0.0.1"
    var nats = ProcessInfo.processInfo.environment["NATS_URL"] ?? "nats://127.0.0.1:4222"
    var stream = "todos"
    var dataPath: String?

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            guard let value = iterator.next() else { throw Usage("\(argument) needs a value.") }
            switch argument {
            case "--port":
                guard let port = Int(value), (0...65535).contains(port) else { throw Usage("--port takes a port.") }
                self.port = port
            case "--host": host = value
            case "--nats": nats = value
            case "--stream": stream = value
            case "--data": dataPath = value
            default: throw Usage("Unknown option \(argument).")
            }
        }
    }

    struct Usage: Error, CustomStringConvertible {
        let description: String
        init(_ problem: String) {
            description =
                "\(problem)\nusage: TodoApp [--port 8080] [--host 127.0.0.1] [--nats URL] [--stream todos] [--data DIR]"
        }
    }
}

let arguments: Arguments
do {
    arguments = try Arguments(CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}
let logger = {
    var logger = Logger(label: "todo")
    logger.logLevel = .info
    return logger
}()
var builder = Eventbase.builder(streamName: arguments.stream)
if let dataPath = arguments.dataPath { builder = builder.fileStore(path: dataPath) }
let eventbase = try await builder.nats(NATSOptions(servers: [arguments.nats])).logger(logger).buildUnstarted()
let port = arguments.port
let app = TodoApplication.make(eventbase: eventbase, host: arguments.host, port: port, logger: logger) { port in
    logger.info("To-dos on http://\(arguments.host):\(port)", metadata: ["stream": "\(arguments.stream)"])
}
// The database first: a group stops its services in reverse order, so the server stops taking
// requests before the database drains its writes and closes.
let group = ServiceGroup(
    services: [EventbaseService(eventbase), app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()
