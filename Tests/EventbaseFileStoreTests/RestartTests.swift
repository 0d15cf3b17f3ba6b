import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

/// An instance on a file store restarts from its snapshot: it replays only what came after it, and
/// a crash (no close) never applies an event twice or loses one.
@Suite struct RestartTests {
    private func builder(
        _ stream: String, server: InMemoryLogServer, store: FileStateStore, seen: KeyRecorder? = nil
    ) -> EventbaseBuilder {
        var builder = Eventbase.builder(streamName: stream)
            .eventLog(InMemoryEventLog(streamName: stream, server: server))
            .stateStore(store)
        if let seen {
            builder = builder.onMessage { entry in seen.append(entry.event?.key ?? "?") }
        }
        return builder
    }

    private static let options = FileStateStore.Options(snapshotEveryEvents: nil, snapshotInterval: nil)

    @Test func reopeningResumesFromTheCheckpointAndSeesOnlyNewEvents() async throws {
        try await withTemporaryDirectory { directory in
            let server = InMemoryLogServer()
            let stream = "restart"
            let first = try await builder(
                stream, server: server, store: FileStateStore(directory: directory, options: Self.options)
            ).build()
            for index in 0..<100 {
                _ = try await first.put("k\(index % 10)", ["index": .number(Double(index))])
            }
            await first.close()

            let writer = try await builder(
                stream, server: server, store: FileStateStore(directory: directory + "/writer", options: Self.options)
            ).build()
            _ = try await writer.put("new", ["n": 1])
            _ = try await writer.delete("k3")
            await writer.close()

            let seen = KeyRecorder()
            let reopened = try await builder(
                stream, server: server, store: FileStateStore(directory: directory, options: Self.options), seen: seen
            ).build()
            #expect(seen.keys == ["new", "k3"])
            #expect(try await reopened.get("k4")?.meta.changes == 10)
            #expect(try await reopened.get("k3") == nil)
            #expect(try await reopened.count() == 10)
            await reopened.close()
        }
    }

    @Test func aCrashAfterASnapshotReplaysExactlyTheEventsAfterIt() async throws {
        try await withTemporaryDirectory { directory in
            let server = InMemoryLogServer()
            let stream = "crash"
            let store = FileStateStore(directory: directory + "/live", options: Self.options)
            let live = try await builder(stream, server: server, store: store).build()
            for index in 0..<30 {
                _ = try await live.put("k\(index % 5)", ["index": .number(Double(index))])
            }
            try await store.checkpoint()
            let checkpointed = store.lastAppliedSequence
            // The process dies now: what is on disk is what a restart finds (a copy, since the live
            // store keeps its folder locked), plus a snapshot write that was under way.
            let crashed = directory + "/crashed"
            let liveFolder = store.folder(for: stream)
            let crashedFolder = FileStateStore(directory: crashed).folder(for: stream)
            try FileManager.default.createDirectory(atPath: crashedFolder, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: liveFolder) where name != "lock" {
                try FileManager.default.copyItem(atPath: liveFolder + "/" + name, toPath: crashedFolder + "/" + name)
            }
            try Data(repeating: 7, count: 1000).write(
                to: URL(fileURLWithPath: crashedFolder + "/snapshot-00000000000000aa.ebsnap.tmp"))
            for index in 30..<37 {
                _ = try await live.put("k\(index % 5)", ["index": .number(Double(index))])
            }
            _ = try await live.delete("k0")
            let expected = try await live.query([:])
            let expectedMeta = try await (0..<5).asyncMap { try await live.get("k\($0)")?.meta }
            await live.close()

            let seen = KeyRecorder()
            let restarted = try await builder(
                stream, server: server, store: FileStateStore(directory: crashed, options: Self.options), seen: seen
            ).build()
            let replayed = seen.keys
            // The log purged older puts of rewritten keys: the survivors after the snapshot replay.
            let survivors = server.entries(of: stream).filter { $0.sequence > checkpointed }.map {
                $0.event?.key ?? "?"
            }
            #expect(checkpointed == 30)
            #expect(replayed == survivors)
            #expect(replayed == ["k2", "k3", "k4", "k1", "k0"])
            #expect(Set(try await restarted.query([:])) == Set(expected))
            let restartedMeta = try await (0..<5).asyncMap { try await restarted.get("k\($0)")?.meta }
            #expect(restartedMeta == expectedMeta)
            await restarted.close()
        }
    }

    /// The `eventbase-<UUID>` directories `fileStore(path: nil)` creates in the temporary directory.
    private static func temporaryStoreDirectories() throws -> Set<String> {
        let root = FileManager.default.temporaryDirectory.path
        return Set(
            try FileManager.default.contentsOfDirectory(atPath: root)
                .filter {
                    $0.hasPrefix("eventbase-") && UUID(uuidString: String($0.dropFirst("eventbase-".count))) != nil
                }
                .map { root + "/" + $0 })
    }

    @Test func theBuilderConvenienceUsesTheGivenDirectoryOrAFreshTemporaryOne() async throws {
        try await withTemporaryDirectory { directory in
            let server = InMemoryLogServer()
            let first = try await Eventbase.builder(streamName: "convenience")
                .eventLog(InMemoryEventLog(streamName: "convenience", server: server))
                .fileStore(path: directory)
                .build()
            _ = try await first.put("a", ["n": 1])
            await first.close()
            #expect(FileManager.default.fileExists(atPath: directory + "/convenience"))

            let before = try Self.temporaryStoreDirectories()
            let temporary = try await Eventbase.builder(streamName: "convenience")
                .eventLog(InMemoryEventLog(streamName: "convenience", server: server))
                .fileStore(path: nil)
                .build()
            #expect(try await temporary.get("a") != nil)
            await temporary.close()
            let created = try Self.temporaryStoreDirectories().subtracting(before)
                .filter { FileManager.default.fileExists(atPath: $0 + "/convenience") }
            for path in created { try FileManager.default.removeItem(atPath: path) }
            #expect(created.count == 1)
            #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/convenience"))
        }
    }
}

/// Collects the keys `onMessage` sees, safely across tasks.
final class KeyRecorder: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ key: String) { storage.withLock { $0.append(key) } }
    var keys: [String] { storage.withLock { $0 } }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

/// A replica whose stream was deleted and created again is rebuilt, not resumed.
@Suite struct RecreatedStreamTests {
    @Test func aSnapshotOfAnEarlierIncarnationIsDiscarded() async throws {
        try await withTemporaryDirectory { directory in
            let server = InMemoryLogServer()
            let stream = "recreated"
            func open(_ path: String) async throws -> Eventbase {
                try await Eventbase.builder(streamName: stream)
                    .eventLog(InMemoryEventLog(streamName: stream, server: server))
                    .stateStore(FileStateStore(directory: path))
                    .build()
            }
            let first = try await open(directory + "/kept")
            for index in 0..<5 { _ = try await first.put("old-\(index)", ["n": .number(Double(index))]) }
            await first.close()

            let deleter = try await open(directory + "/deleter")
            try await deleter.deleteStream()
            let writer = try await open(directory + "/writer")
            _ = try await writer.put("new", ["n": 1])
            await writer.close()

            let reopened = try await open(directory + "/kept")
            #expect(try await reopened.keys() == ["new"])
            await reopened.close()
        }
    }
}

@Suite struct FileStateStoreLifecycleTests {
    @Test func aStoreMustBeOpenToChangeAndCannotBeOpenedTwice() async throws {
        try await withTemporaryDirectory { directory in
            let store = FileStateStore(directory: directory)
            let beforeOpen = #expect(throws: EventbaseError.self) { try store.apply(sampleBatch(from: 0, count: 1)) }
            #expect(beforeOpen?.code == .closed)
            _ = try await store.open(stream: "lifecycle")
            let twice = await #expect(throws: EventbaseError.self) { try await store.open(stream: "lifecycle") }
            #expect(twice?.code == .invalidArgument)
            try await store.close()
        }
    }
}
