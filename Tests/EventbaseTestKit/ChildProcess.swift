public import EventbaseCore
public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program built by this package (the `eventbase` tool, the fault tests' child), run as a child
/// process with pipes for its output.
///
/// Tests run in parallel in one process, and each nats-server fixture is spawned by Foundation's
/// `Process`, which only closes the descriptors open when it starts preparing the spawn. A pipe made
/// by a concurrent test in that window would leak into the server, and the child's end of file would
/// never come while the server lives. So the child is spawned here with `posix_spawn`: its pipes are
/// close-on-exec from birth (`pipe2`), it inherits nothing but standard input, output and error
/// (`posix_spawn_file_actions_addclosefrom_np`), its exit is awaited with `waitpid` and its output
/// read with `read` on threads of their own. Standard input is a file, so writing it never raises
/// SIGPIPE. Every wait has a deadline: when it passes, the process is killed and the wait throws
/// `.timeout`.
public final class ChildProcess: Sendable {
    /// Which built product to run.
    public struct Program: Sendable {
        /// The product's name in the build products folder.
        public var product: String
        /// An environment variable that, when set, gives the binary's path instead.
        public var environmentVariable: String

        /// Names a product, and the variable that overrides its path.
        public init(product: String, environmentVariable: String) {
            self.product = product
            self.environmentVariable = environmentVariable
        }

        /// The binary: the environment variable's path if set, else the product next to the test bundle in
        /// the build products folder (`swift build --build-tests` builds both).
        public var binary: URL {
            if let path = ProcessInfo.processInfo.environment[environmentVariable] {
                return URL(fileURLWithPath: path)
            }
            let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            return products.appendingPathComponent(product)
        }
    }

    /// What a finished process left behind.
    public struct Output: Sendable {
        /// The exit status (or the signal number when ``signalled``).
        public var status: Int32
        /// Whether it ended by a signal rather than by exiting.
        public var signalled: Bool
        /// Everything it wrote to standard output.
        public var stdout: String
        /// Everything it wrote to standard error.
        public var stderr: String

        /// The standard output's lines, without the empty last one.
        public var lines: [String] {
            stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }

        /// Each line of standard output parsed as JSON.
        public func json() throws -> [JSONValue] { try lines.map { try JSONValue(jsonString: $0) } }
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
        var finishWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0

        var finished: Bool { stdoutClosed && stderrClosed && exit != nil }
    }

    /// The state, shared with the reading and waiting threads.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    /// What the reading threads must do once the lock is released.
    private struct Wakeups {
        var line: (CheckedContinuation<String?, Never>, String?)?
        var stderr: (CheckedContinuation<Bool, Never>, Bool)?
        var finished: [CheckedContinuation<Void, Never>] = []
    }

    /// Whether child processes can be run here (Linux, where the tests run in CI).
    public static var isSupported: Bool {
        #if canImport(Glibc)
            return true
        #else
            return false
        #endif
    }

    private let pid: Int32
    private let shared: Shared

    /// Starts `program` with `arguments` and `input` as its standard input, its environment cleared of
    /// `NATS_URL` and `EVENTBASE_STREAM` so only the arguments say where to connect.
    public init(
        _ program: Program, _ arguments: [String], input: String = "", environment extra: [String: String] = [:]
    ) throws {
        #if canImport(Glibc)
            let path = program.binary.path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw EventbaseError(
                    .unavailable,
                    "The \(program.product) binary is not at \(path); run `swift build --build-tests` first or set "
                        + "\(program.environmentVariable)."
                )
            }
            var environment = ProcessInfo.processInfo.environment
            environment["NATS_URL"] = nil
            environment["EVENTBASE_STREAM"] = nil
            environment.merge(extra) { $1 }

            let stdinFD = try Self.inputFile(input)
            defer { close(stdinFD) }
            let output = try Self.closeOnExecPipe()
            let errors: (read: Int32, write: Int32)
            do {
                errors = try Self.closeOnExecPipe()
            } catch {
                close(output.read)
                close(output.write)
                throw error
            }
            let spawned = Self.spawn(
                path, arguments: [path] + arguments, environment: environment.map { "\($0.key)=\($0.value)" },
                stdin: stdinFD, stdout: output.write, stderr: errors.write)
            close(output.write)
            close(errors.write)
            guard case .success(let pid) = spawned else {
                close(output.read)
                close(errors.read)
                throw EventbaseError(.unavailable, "Could not start \(path): \(spawned).")
            }
            self.pid = pid
            let shared = Shared()
            self.shared = shared
            Thread { Self.readToEnd(output.read, isOutput: true, shared: shared) }.start()
            Thread { Self.readToEnd(errors.read, isOutput: false, shared: shared) }.start()
            Thread { Self.waitForExit(of: pid, shared: shared) }.start()
        #else
            throw EventbaseError(.unavailable, "ChildProcess runs on Linux only.")
        #endif
    }

    /// Runs `program` to completion with `input` on its standard input, within `timeout`.
    public static func run(
        _ program: Program, _ arguments: [String], input: String = "", environment: [String: String] = [:],
        timeout: Duration = .seconds(60)
    ) async throws -> Output {
        try await ChildProcess(program, arguments, input: input, environment: environment).waitForExit(timeout: timeout)
    }

    /// Sends a signal to the process, unless it has already exited (and its id may be reused).
    public func send(_ signal: Int32) {
        shared.state.withLock { state in
            if state.exit == nil { kill(pid, signal) }
        }
    }

    /// The next line of standard output, or `nil` at its end; throws `.timeout` after `timeout`.
    public func nextLine(timeout: Duration = .seconds(30)) async throws -> String? {
        do {
            return try await withDeadline(timeout, clock: ContinuousClock(), "Waiting for a line from eventbase") {
                await self.awaitLine()
            }
        } catch {
            send(SIGKILL)
            throw error
        }
    }

    /// The next line of standard output parsed as JSON; throws at its end or after `timeout`.
    public func nextJSON(timeout: Duration = .seconds(30)) async throws -> JSONValue {
        guard let line = try await nextLine(timeout: timeout) else {
            throw EventbaseError(.unavailable, "eventbase closed its output; stderr: \(stderrText)")
        }
        return try JSONValue(jsonString: line)
    }

    /// Waits until standard error has `count` complete lines, within `timeout`.
    public func waitForStderrLines(_ count: Int, timeout: Duration = .seconds(30)) async throws {
        do {
            let reached = try await withDeadline(timeout, clock: ContinuousClock(), "Waiting for the child's stderr") {
                await self.awaitStderrLines(count)
            }
            guard reached else {
                throw EventbaseError(.unavailable, "eventbase ended before writing to stderr: \(self.stderrText)")
            }
        } catch {
            send(SIGKILL)
            throw error
        }
    }

    /// What the process has written to standard error so far.
    public var stderrText: String { shared.state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    /// Waits until the process has exited and closed its output, within `timeout` (killing it after).
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Output {
        do {
            try await withDeadline(timeout, clock: ContinuousClock(), "Waiting for eventbase to exit") {
                await self.awaitFinish()
            }
        } catch {
            send(SIGKILL)
            throw EventbaseError(.timeout, "eventbase did not finish within \(timeout); stderr: \(stderrText)")
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
        let id = shared.state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = shared.state.withLock { state in
                    if state.finished || Task.isCancelled { return true }
                    state.finishWaiters[id] = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            shared.state.withLock { $0.finishWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    // MARK: Spawning, reading, reaping

    #if canImport(Glibc)
        /// A file holding `input`, open for reading (and already unlinked).
        private static func inputFile(_ input: String) throws -> Int32 {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent(
                "eventbase-cli-\(UUID().uuidString)")
            try Data(input.utf8).write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            let fd = open(url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw EventbaseError(.unavailable, "Could not open \(url.path): errno \(errno).") }
            return fd
        }

        /// A pipe whose both ends are close-on-exec from the start.
        private static func closeOnExecPipe() throws -> (read: Int32, write: Int32) {
            typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
            var fds: [Int32] = [-1, -1]
            guard let symbol = dlsym(nil, "pipe2") else {
                throw EventbaseError(.unavailable, "This C library has no pipe2.")
            }
            let result = fds.withUnsafeMutableBufferPointer {
                unsafeBitCast(symbol, to: Pipe2.self)($0.baseAddress, O_CLOEXEC)
            }
            guard result == 0 else { throw EventbaseError(.unavailable, "pipe2 failed: errno \(errno).") }
            return (fds[0], fds[1])
        }

        /// Spawns `path` with the given standard streams and nothing else inherited.
        private static func spawn(
            _ path: String, arguments: [String], environment: [String], stdin: Int32, stdout: Int32, stderr: Int32
        ) -> Result<Int32, EventbaseError> {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
            posix_spawn_file_actions_adddup2(&actions, stderr, 2)
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
            if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
                _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            }
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            // The child starts with no blocked signals and default handling of the ones the tests send.
            var empty = sigset_t()
            sigemptyset(&empty)
            posix_spawnattr_setsigmask(&attributes, &empty)
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for number in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, number) }
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

            let argv = arguments.map { strdup($0) } + [nil]
            let envp = environment.map { strdup($0) } + [nil]
            defer {
                for pointer in argv + envp { free(pointer) }
            }
            var pid: pid_t = 0
            let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
            guard status == 0 else { return .failure(EventbaseError(.unavailable, "posix_spawn failed: \(status)")) }
            return .success(pid)
        }
    #endif

    /// Reads `fd` until its end, handing each chunk to the state, then closes it.
    private static func readToEnd(_ fd: Int32, isOutput: Bool, shared: Shared) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                received(Data(buffer[0..<count]), isOutput: isOutput, shared: shared)
            } else if count < 0, errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(fd)
        received(Data(), isOutput: isOutput, shared: shared)
    }

    /// Waits for the process to end and records how.
    private static func waitForExit(of pid: Int32, shared: Shared) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        let signalled = signal != 0 && signal != 0x7f
        let waiters = shared.state.withLock { state in
            state.exit = (signalled ? signal : (status >> 8) & 0xff, signalled)
            return takeFinishWaiters(&state)
        }
        for waiter in waiters { waiter.resume() }
    }

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
        defer { state.finishWaiters = [:] }
        return Array(state.finishWaiters.values)
    }
}
