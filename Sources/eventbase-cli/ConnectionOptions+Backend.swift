import ArgumentParser
import Eventbase
import Foundation

extension ConnectionOptions {
    /// The NATS connection the options describe.
    func natsOptions() -> NATSOptions {
        var options = NATSOptions(
            servers: [serverURL], user: user, password: password, token: token, credentialsFile: creds,
            tls: tlsCA.map { NATSTLSOptions(caFile: $0) }, name: "eventbase-cli")
        let deadline = Duration.milliseconds(Int(timeout * 1000))
        options.connectTimeout = deadline
        options.requestTimeout = deadline
        // A command-line tool reports an unreachable server instead of retrying for minutes.
        options.maxReconnectAttempts = 3
        return options
    }

    /// How the stream is created and read.
    func streamOptions() -> JetStreamStreamOptions {
        var options = JetStreamStreamOptions()
        options.requestTimeout = .milliseconds(Int(timeout * 1000))
        return options
    }

    /// A builder for the stream on the server, with a file store under --db-path when given.
    func serverBuilder() throws -> EventbaseBuilder {
        var builder = Eventbase.builder(streamName: streamName)
        if let dbPath { builder = builder.fileStore(path: dbPath) }
        return builder.nats(natsOptions(), stream: streamOptions())
    }

    /// A raw connection to the server, for commands that manage streams.
    func withConnection<T>(_ body: (NATSTransport, JetStreamContext) async throws -> T) async throws -> T {
        guard !memory else {
            throw CLIFailure(
                message: "This command needs a server; it has no --memory mode.", exitCode: .validationFailure)
        }
        let transport = NATSTransport(natsOptions(), logger: logger)
        do {
            try await transport.connect()
            let result = try await body(
                transport, JetStreamContext(transport: transport, requestTimeout: .milliseconds(Int(timeout * 1000))))
            await transport.close()
            return result
        } catch let error as EventbaseError {
            await transport.close()
            throw CLIFailure(error)
        } catch {
            await transport.close()
            throw error
        }
    }
}
