import Eventbase
import Foundation
import Synchronization

/// Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// NUL-terminated JSON messages on file descriptors 3 and 4), so no WebSocket client is needed.
final class Chromium: Sendable {
    private let process: Process
    private let toBrowser: FileHandle
    private let fromBrowser: FileHandle
    private let userDataDirectory: URL
    private let state = Mutex(State())

    private struct State {
        var nextID = 1
        var pending: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
        var buffer: [UInt8] = []
        var exited = false
        /// Events seen (method and session), for ``waitForEvent(_:session:)``.
        var events: [(method: String, session: String?)] = []
        var eventWaiters: [(method: String, session: String, continuation: CheckedContinuation<Void, Never>)] = []
    }

    /// The Chromium binary: `$CHROMIUM_BIN`, else `chromium` or `chromium-browser` on the `PATH`.
    static func findBinary() -> String? {
        if let explicit = ProcessInfo.processInfo.environment["CHROMIUM_BIN"] { return explicit }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            for name in ["chromium", "chromium-browser"] {
                let candidate = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    /// Starts a headless browser; its stderr goes to `log`.
    init(binary: String, log: URL) throws {
        userDataDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("todo-chromium-\(UUID().uuidString)")
        let toBrowserPipe = Pipe()
        let fromBrowserPipe = Pipe()
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell moves the pipes to descriptors 3 and 4, where Chromium expects them.
        process.arguments = [
            "-c",
            #"exec "$0" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "#
                + #"--hide-scrollbars --window-size=900,700 --remote-debugging-pipe --user-data-dir="$1" about:blank "#
                + "3<&0 4>&1 0</dev/null 1>/dev/null",
            binary, userDataDirectory.path,
        ]
        process.standardInput = toBrowserPipe
        process.standardOutput = fromBrowserPipe
        process.standardError = try FileHandle(forWritingTo: log)
        toBrowser = toBrowserPipe.fileHandleForWriting
        fromBrowser = fromBrowserPipe.fileHandleForReading
        process.terminationHandler = { [weak self] _ in self?.exited() }
        try process.run()
        fromBrowser.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            self.received(Array(data))
        }
    }

    private func exited() {
        let pending = state.withLock { state in
            state.exited = true
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for continuation in pending { continuation.resume(throwing: TestFailure("Chromium exited.")) }
    }

    private func received(_ bytes: [UInt8]) {
        let messages = state.withLock { state -> [[UInt8]] in
            state.buffer += bytes
            var messages: [[UInt8]] = []
            while let end = state.buffer.firstIndex(of: 0) {
                messages.append(Array(state.buffer[..<end]))
                state.buffer.removeSubrange(...end)
            }
            return messages
        }
        for message in messages {
            guard let json = try? JSONValue(jsonBytes: message) else { continue }
            guard let id = json["id"]?.intValue else {
                if let method = json["method"]?.stringValue { event(method, session: json["sessionId"]?.stringValue) }
                continue
            }
            guard let continuation = state.withLock({ $0.pending.removeValue(forKey: id) }) else { continue }
            if let error = json["error"] {
                continuation.resume(throwing: TestFailure("DevTools error: \(error.jsonString())"))
            } else {
                continuation.resume(returning: json["result"] ?? .null)
            }
        }
    }

    private func event(_ method: String, session: String?) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.events.append((method, session))
            var ready: [CheckedContinuation<Void, Never>] = []
            state.eventWaiters.removeAll { waiter in
                guard waiter.method == method, waiter.session == session else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Forgets the events seen so far in `session`.
    func forgetEvents(session: String) {
        state.withLock { $0.events.removeAll { $0.session == session } }
    }

    /// Returns once `method` was seen in `session` (since the last ``forgetEvents(session:)``).
    func waitForEvent(_ method: String, session: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let seen = state.withLock { state -> Bool in
                if state.events.contains(where: { $0.method == method && $0.session == session }) { return true }
                state.eventWaiters.append((method, session, continuation))
                return false
            }
            if seen { continuation.resume() }
        }
    }

    /// Sends one DevTools command and returns its result.
    func send(_ method: String, _ params: JSONValue = [:], session: String? = nil) async throws -> JSONValue {
        try await withCheckedThrowingContinuation { continuation in
            let id = state.withLock { state -> Int? in
                if state.exited { return nil }
                defer { state.nextID += 1 }
                state.pending[state.nextID] = continuation
                return state.nextID
            }
            guard let id else {
                continuation.resume(throwing: TestFailure("Chromium exited."))
                return
            }
            var message: JSONValue = ["id": .number(Double(id)), "method": .string(method), "params": params]
            if let session { message = merge(message, ["sessionId": .string(session)]) }
            toBrowser.write(Data(message.jsonBytes() + [0]))
        }
    }

    /// Opens `url` in a new tab and returns the tab's session once the page has loaded.
    func open(_ url: String) async throws -> Tab {
        let target = try await send("Target.createTarget", ["url": "about:blank"])
        guard let targetID = target["targetId"]?.stringValue else { throw TestFailure("No target id.") }
        let attached = try await send("Target.attachToTarget", ["targetId": .string(targetID), "flatten": true])
        guard let session = attached["sessionId"]?.stringValue else { throw TestFailure("No session id.") }
        _ = try await send("Page.enable", session: session)
        forgetEvents(session: session)
        _ = try await send("Page.navigate", ["url": .string(url)], session: session)
        try await withTimeout(.seconds(30), "\(url) to load") {
            await self.waitForEvent("Page.loadEventFired", session: session)
        }
        return Tab(browser: self, session: session)
    }

    /// Quits the browser and removes its profile.
    func quit() async {
        _ = try? await withTimeout(.seconds(5), "Chromium to quit") { try await self.send("Browser.close") }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        fromBrowser.readabilityHandler = nil
        try? FileManager.default.removeItem(at: userDataDirectory)
    }

    /// A tab, addressed through its DevTools session.
    struct Tab: Sendable {
        let browser: Chromium
        let session: String

        /// Evaluates `expression` in the page, awaiting it when it is a promise, and returns its value.
        func evaluate(_ expression: String) async throws -> JSONValue {
            let result = try await browser.send(
                "Runtime.evaluate",
                ["expression": .string(expression), "awaitPromise": true, "returnByValue": true],
                session: session)
            if let exception = result["exceptionDetails"] {
                throw TestFailure("The page threw: \(exception.jsonString())")
            }
            return result["result"]?["value"] ?? .null
        }

        /// A PNG of the tab.
        func screenshot() async throws -> Data {
            let result = try await browser.send("Page.captureScreenshot", ["format": "png"], session: session)
            guard let base64 = result["data"]?.stringValue, let data = Data(base64Encoded: base64) else {
                throw TestFailure("No screenshot data.")
            }
            return data
        }
    }
}

private func merge(_ object: JSONValue, _ extra: JSONValue) -> JSONValue {
    guard case .object(var base) = object, case .object(let more) = extra else { return object }
    for (key, value) in more { base[key] = value }
    return .object(base)
}
