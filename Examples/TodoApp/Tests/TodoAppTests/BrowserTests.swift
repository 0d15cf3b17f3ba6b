import Eventbase
import EventbaseTestKit
import Foundation
import Testing

@Suite struct BrowserTests {
    /// Where screenshots go: `$TODO_ARTIFACTS`, else `.artifacts` in the package (gitignored).
    static var artifacts: URL {
        if let explicit = ProcessInfo.processInfo.environment["TODO_ARTIFACTS"] {
            return URL(fileURLWithPath: explicit)
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".artifacts")
    }

    @Test func anItemAddedThroughOneServerAppearsLiveOnThePageOfTheOther() async throws {
        guard let binary = Chromium.findBinary() else {
            // CI installs Chromium (scripts/test); it must not silently skip there.
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("No chromium binary: install Debian's chromium package or set CHROMIUM_BIN.")
            }
            return
        }
        try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)
        try await withNATSServer { nats in
            let a = try await TestServer.start(nats: nats, stream: "todos")
            let b = try await TestServer.start(nats: nats, stream: "todos")
            let browser = try Chromium(binary: binary, log: Self.artifacts.appendingPathComponent("chromium.log"))
            do {
                let pageA = try await browser.open(a.url + "/")
                let pageB = try await browser.open(b.url + "/")
                // Both pages have their first snapshot: what follows arrives live.
                try await withTimeout(.seconds(30), "both pages to go live") {
                    _ = try await pageA.evaluate("todoPage.live()")
                    _ = try await pageB.evaluate("todoPage.live()")
                }
                #expect(try await pageB.evaluate("document.querySelectorAll('#list li').length") == 0)

                let title = "Water the plants \(UUID().uuidString.prefix(4))"
                let (status, _) = try await a.request("POST", "/api/todos", ["title": .string(title)])
                #expect(status == 201)

                // The page resolves `shows` itself once the item is rendered.
                let shown = try await withTimeout(.seconds(30), "the other server's page to show the item") {
                    try await pageB.evaluate("todoPage.shows(\(JSONValue.string(title).jsonString()))")
                }
                #expect(shown == true)
                let titles = try await pageB.evaluate(
                    "[...document.querySelectorAll('#list .title')].map(node => node.textContent)")
                #expect(titles == [.string(title)])
                let screenshot = try await pageB.screenshot()
                try screenshot.write(to: Self.artifacts.appendingPathComponent("todo-live-update.png"))
                #expect(screenshot.starts(with: [0x89, 0x50, 0x4E, 0x47]))

                // A change made on page B (through its own server) reaches page A too.
                _ = try await pageB.evaluate(
                    "document.querySelector('#list input[type=checkbox]').click(); true")
                let done = try await withTimeout(.seconds(30), "page A to show the item done") {
                    try await pageA.evaluate("todoPage.showsDone(\(JSONValue.string(title).jsonString()))")
                }
                #expect(done == true)
                try await pageA.screenshot().write(to: Self.artifacts.appendingPathComponent("todo-done-on-a.png"))
            } catch {
                await browser.quit()
                try? await a.stop()
                try? await b.stop()
                throw error
            }
            await browser.quit()
            try await a.stop()
            try await b.stop()
        }
    }
}
