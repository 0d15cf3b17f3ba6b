import ArgumentParser
import Eventbase
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

enum EventbaseCLI {
    /// Runs a command body, printing failures as one line with a distinct exit code.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CLIFailure {
            failure.exit()
        } catch let error as EventbaseError {
            CLIFailure(error).exit()
        } catch let error as ValidationError {
            CLIFailure(message: error.message, exitCode: .validationFailure).exit()
        }
    }

    /// Runs `body` until it finishes or the process gets SIGINT or SIGTERM, then returns cleanly.
    static func untilInterrupted(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let signals = AsyncStream<Int32> { continuation in
            let sources = SignalSources([SIGINT, SIGTERM]) { continuation.yield($0) }
            continuation.onTermination = { _ in sources.cancel() }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await body() }
            group.addTask {
                for await _ in signals { return }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// Dispatch signal sources for some signals. `@unchecked Sendable`: the array is immutable after
/// `init`, and `DispatchSource.cancel()` may be called from any thread.
final class SignalSources: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(_ numbers: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
