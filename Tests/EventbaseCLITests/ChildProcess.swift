import EventbaseCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The built `eventbase` tool, run as a child process with pipes for its standard streams.
///
/// Every wait has a deadline: when it passes, the process is killed and the wait throws `.timeout`.
final class ChildProcess: Sendable {
    /// What a finished process left behind.
    struct Output: Sendable {
        /// The exit status (or the signal number when ``signalled``).
        var status: Int32
        /// Whether it ended by a signal rather than by exiting.
        var signalled: Bool
        var stdout: String
        var stderr: String

        /// The standard output's lines, without the empty last one.
        var lines: [String] {
            stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }

        /// Each line of standard output parsed as JSON.
        func json() throws -> [JSONValue] { try lines.map { try JSONValue(jsonString: $0) } }
    }

    private struct State {
        var stdout = Data()
        var stderr = Data()
        var pendingLines: [String] = []
        var partialLine = Data()
        var stdoutClosed = false
        var stderrClosed = false
        var stderrLineCount = 0
        var exit: (status: Int32, signalled: Bool)?
        var lineWaiter: CheckedContinuation<String?, Never>?
        var stderrWaiter: (count: Int, continuation: CheckedContinuation<Bool, Never>)?
        var finishWaiters: [CheckedContinuation<Void, Never>] = []

        var finished: Bool { stdoutClosed && stderrClosed && exit != nil }
    }

    /// The `eventbase` binary: `EVENTBASE_CLI` if set, else the one next to the test bundle in the
    /// build products folder (`swift build --build-tests` builds both).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["EVENTBASE_CLI"] { return URL(fileURLWithPath: path) }
        #if os(Linux)
            let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        #else
            let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") } ?? Bundle.main
            let products = bundle.bundleURL.deletingLastPathComponent()
        #endif
        return products.appendingPathComponent("eventbase")
    }

    /// The state, shared with the pipes' and the process's handlers.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    /// What the reading handlers must do once the lock is released.
    private struct Wakeups {
        var line: (CheckedContinuation<String?, Never>, String?)?
        var stderr: (CheckedContinuation<Bool, Never>, Bool)?
        var finished: [CheckedContinuation<Void, Never>] = []
    }

    private let process: Process
    private let input: Pipe
    private let shared: Shared

    /// Starts `eventbase` with `arguments`, its environment cleared of `NATS_URL` and `EVENTBASE_STREAM`
    /// so only the arguments say where to connect.
    init(_ arguments: [String], environment extra: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw EventbaseError(
                .unavailable,
                "The eventbase binary is not at \(Self.binary.path); run `swift build --build-tests` first or set "
                    + "EVENTBASE_CLI.")
        }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["NATS_URL"] = nil
        environment["EVENTBASE_STREAM"] = nil
        environment.merge(extra) { $1 }
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let shared = Shared()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            Self.received(data, isOutput: true, shared: shared)
        }
        errors.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            Self.received(data, isOutput: false, shared: shared)
        }
        process.terminationHandler = { process in
            let signalled = process.terminationReason == .uncaughtSignal
            let waiters = shared.state.withLock { state in
                state.exit = (process.terminationStatus, signalled)
                return Self.takeFinishWaiters(&state)
            }
            for waiter in waiters { waiter.resume() }
        }
        self.process = process
        self.input = input
        self.shared = shared
        try process.run()
    }

    /// Runs `eventbase` to completion with `input` on its standard input, within `timeout`.
    static func run(
        _ arguments: [String], input: String = "", environment: [String: String] = [:],
        timeout: Duration = .seconds(60)
    ) async throws -> Output {
        let child = try ChildProcess(arguments, environment: environment)
        child.write(input)
        child.closeInput()
        return try await child.waitForExit(timeout: timeout)
    }

    /// Writes to the process's standard input.
    func write(_ text: String) {
        guard !text.isEmpty else { return }
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Closes the process's standard input (it reads end of file).
    func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    /// Sends a signal to the process.
    func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// The next line of standard output, or `nil` at its end; throws `.timeout` after `timeout`.
    func nextLine(timeout: Duration = .seconds(30)) async throws -> String? {
        do {
            return try await withDeadline(timeout, clock: ContinuousClock(), "Waiting for a line from eventbase") {
                await self.awaitLine()
            }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
    }

    /// The next line of standard output parsed as JSON; throws at its end or after `timeout`.
    func nextJSON(timeout: Duration = .seconds(30)) async throws -> JSONValue {
        guard let line = try await nextLine(timeout: timeout) else {
            throw EventbaseError(.unavailable, "eventbase closed its output; stderr: \(stderrText)")
        }
        return try JSONValue(jsonString: line)
    }

    /// Waits until standard error has `count` complete lines, within `timeout`.
    func waitForStderrLines(_ count: Int, timeout: Duration = .seconds(30)) async throws {
        do {
            let reached = try await withDeadline(timeout, clock: ContinuousClock(), "Waiting for eventbase's stderr") {
                await self.awaitStderrLines(count)
            }
            guard reached else {
                throw EventbaseError(.unavailable, "eventbase ended before writing to stderr: \(self.stderrText)")
            }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
    }

    /// What the process has written to standard error so far.
    var stderrText: String { shared.state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    /// Waits until the process has exited and closed its output, within `timeout` (killing it after).
    func waitForExit(timeout: Duration = .seconds(60)) async throws -> Output {
        do {
            try await withDeadline(timeout, clock: ContinuousClock(), "Waiting for eventbase to exit") {
                await self.awaitFinish()
            }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        return shared.state.withLock { state in
            Output(
                status: state.exit?.status ?? -1, signalled: state.exit?.signalled ?? false,
                stdout: String(decoding: state.stdout, as: UTF8.self),
                stderr: String(decoding: state.stderr, as: UTF8.self))
        }
    }

    // MARK: Waiting

    private func awaitLine() async -> String? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                let result: String?? = shared.state.withLock { state in
                    if !state.pendingLines.isEmpty { return .some(state.pendingLines.removeFirst()) }
                    if state.stdoutClosed || Task.isCancelled { return .some(nil) }
                    state.lineWaiter = continuation
                    return nil
                }
                if let result { continuation.resume(returning: result) }
            }
        } onCancel: {
            shared.state.withLock { $0.lineWaiter.take() }?.resume(returning: nil)
        }
    }

    private func awaitStderrLines(_ count: Int) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let result: Bool? = shared.state.withLock { state in
                    if state.stderrLineCount >= count { return true }
                    if state.stderrClosed || Task.isCancelled { return false }
                    state.stderrWaiter = (count, continuation)
                    return nil
                }
                if let result { continuation.resume(returning: result) }
            }
        } onCancel: {
            shared.state.withLock { $0.stderrWaiter.take() }?.continuation.resume(returning: false)
        }
    }

    private func awaitFinish() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = shared.state.withLock { state in
                    if state.finished { return true }
                    state.finishWaiters.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            // Killing the process makes it exit and close its pipes, which resumes the waiter.
            kill(process.processIdentifier, SIGKILL)
        }
    }

    // MARK: Reading

    private static func received(_ data: Data, isOutput: Bool, shared: Shared) {
        let wakeups = shared.state.withLock { state in
            if isOutput {
                if data.isEmpty {
                    state.stdoutClosed = true
                    if !state.partialLine.isEmpty {
                        state.pendingLines.append(String(decoding: state.partialLine, as: UTF8.self))
                        state.partialLine = Data()
                    }
                } else {
                    state.stdout.append(data)
                    state.partialLine.append(data)
                    while let newline = state.partialLine.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = state.partialLine[state.partialLine.startIndex..<newline]
                        state.pendingLines.append(String(decoding: line, as: UTF8.self))
                        state.partialLine = Data(state.partialLine[(newline + 1)...])
                    }
                }
            } else if data.isEmpty {
                state.stderrClosed = true
            } else {
                state.stderr.append(data)
                state.stderrLineCount += data.count { $0 == UInt8(ascii: "\n") }
            }
            var wakeups = Wakeups()
            if let waiter = state.lineWaiter {
                if !state.pendingLines.isEmpty {
                    wakeups.line = (waiter, state.pendingLines.removeFirst())
                    state.lineWaiter = nil
                } else if state.stdoutClosed {
                    wakeups.line = (waiter, nil)
                    state.lineWaiter = nil
                }
            }
            if let waiter = state.stderrWaiter {
                if state.stderrLineCount >= waiter.count {
                    wakeups.stderr = (waiter.continuation, true)
                    state.stderrWaiter = nil
                } else if state.stderrClosed {
                    wakeups.stderr = (waiter.continuation, false)
                    state.stderrWaiter = nil
                }
            }
            wakeups.finished = takeFinishWaiters(&state)
            return wakeups
        }
        if let (waiter, line) = wakeups.line { waiter.resume(returning: line) }
        if let (waiter, reached) = wakeups.stderr { waiter.resume(returning: reached) }
        for waiter in wakeups.finished { waiter.resume() }
    }

    private static func takeFinishWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        guard state.finished else { return [] }
        defer { state.finishWaiters = [] }
        return state.finishWaiters
    }
}
