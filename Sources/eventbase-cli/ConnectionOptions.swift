import ArgumentParser
import Eventbase
import Foundation
import Logging

/// Options every subcommand shares: where the stream lives and how to print.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "The NATS server URL (default: $NATS_URL, else nats://127.0.0.1:4222).")
    var server: String?

    @Option(help: "The user name for the server.")
    var user: String?

    @Option(help: "The password for the server.")
    var password: String?

    @Option(help: "A token for the server.")
    var token: String?

    @Option(help: "A NATS .creds file (JWT and nkey seed).")
    var creds: String?

    @Option(name: .customLong("tls-ca"), help: "A CA certificate file to trust for TLS.")
    var tlsCA: String?

    @Option(help: "The stream (default: $EVENTBASE_STREAM, else \"eventbase\").")
    var stream: String?

    @Option(name: .customLong("db-path"), help: "Where to keep the local replica between runs.")
    var dbPath: String?

    @Option(help: "Seconds to wait for the server before failing.")
    var timeout: Double = 5

    @Flag(help: "Use an in-memory stream instead of a server (nothing is kept after the command).")
    var memory = false

    @Flag(help: "Pretty-print JSON output.")
    var pretty = false

    @Option(
        name: .customLong("log-level"),
        help: """
            Log to standard error from this level: trace, debug, info, notice, warning, error or critical \
            (default critical: a failure is reported once, as the command's one-line error; warning shows \
            connection faults and reconnects as they happen).
            """)
    var logLevel: String = "critical"

    /// Logs to standard error from ``logLevel`` (by default only what the one-line error does not say).
    var logger: Logger {
        var logger = Logger(label: "eventbase-cli", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .critical
        return logger
    }

    var streamName: String {
        stream ?? ProcessInfo.processInfo.environment["EVENTBASE_STREAM"] ?? "eventbase"
    }

    var serverURL: String {
        server ?? ProcessInfo.processInfo.environment["NATS_URL"] ?? "nats://127.0.0.1:4222"
    }

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive.") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.")
        }
    }

    /// Opens the stream the options describe.
    func open() async throws -> Eventbase {
        let builder: EventbaseBuilder
        if memory {
            builder = Eventbase.builder(streamName: streamName).inMemory()
        } else {
            builder = try serverBuilder()
        }
        return try await builder.logger(logger).configure {
            $0.writeTimeout = .milliseconds(Int(timeout * 1000))
            $0.openTimeout = .milliseconds(Int(timeout * 1000) * 2)
        }.build()
    }

    /// Prints a JSON value as one line, or indented with --pretty.
    func print(_ value: JSONValue) {
        let text = pretty ? Pretty.format(value) : value.jsonString()
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

/// Reads a JSON argument, or standard input when the argument is absent or "-".
func readJSON(_ argument: String?, what: String) throws -> JSONValue {
    let text: String
    if let argument, argument != "-" {
        text = argument
    } else {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        text = String(decoding: data, as: UTF8.self)
    }
    guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
        throw EventbaseError(.invalidJSON, "No \(what) given: pass it as an argument or on standard input.")
    }
    do {
        return try JSONValue(jsonString: text)
    } catch let error as EventbaseError {
        throw EventbaseError(.invalidJSON, "The \(what) is not valid JSON: \(error.message)")
    }
}

/// A record as the CLI prints it: `{"key", "data", "meta"}`.
func recordJSON(_ record: Record<JSONValue>) -> JSONValue {
    ["key": .string(record.key), "data": record.data, "meta": record.meta.jsonValue]
}

/// Indented JSON for people.
enum Pretty {
    static func format(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + format($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let object) where !object.isEmpty:
            let fields = object.map {
                inner + JSONValue.string($0.key).jsonString() + ": " + format($0.value, indent: inner)
            }
            return "{\n" + fields.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return value.jsonString()
        }
    }
}

/// Runs a command body against an opened stream, turning every failure into one line on standard
/// error and a distinct exit code.
func withEventbase(_ options: ConnectionOptions, _ body: (Eventbase) async throws -> Void) async throws {
    do {
        let eventbase = try await options.open()
        do {
            try await body(eventbase)
        } catch {
            await eventbase.close()
            throw error
        }
        await eventbase.close()
    } catch let error as EventbaseError {
        throw CLIFailure(error)
    }
}

/// An error the CLI reports as one line with its own exit code.
struct CLIFailure: Error, CustomStringConvertible {
    let message: String
    let exitCode: ExitCode

    init(_ error: EventbaseError) {
        message = error.message
        switch error.code {
        case .invalidJSON, .invalidQuery, .invalidKey, .invalidArgument, .invalidStreamName, .limitExceeded:
            exitCode = ExitCode(65)
        case .streamNotFound:
            exitCode = ExitCode(2)
        case .conflict:
            exitCode = ExitCode(3)
        case .unavailable, .timeout, .authenticationFailed, .permissionDenied, .noResponders:
            exitCode = ExitCode(4)
        default:
            exitCode = ExitCode(1)
        }
    }

    init(message: String, exitCode: ExitCode) {
        self.message = message
        self.exitCode = exitCode
    }

    var description: String { message }

    /// Prints the message and exits with the code.
    func exit() -> Never {
        FileHandle.standardError.write(Data("eventbase: \(message)\n".utf8))
        EventbaseCommand.exit(withError: exitCode)
    }
}
