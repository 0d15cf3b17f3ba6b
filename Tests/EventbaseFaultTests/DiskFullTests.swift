import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether this process may mount a tmpfs, for ``DiskFullTests``.
enum TmpfsMount {
    /// Whether this process may mount a tmpfs (tried once, on a 1 MiB one that is unmounted at once).
    static let isPermitted: Bool = {
        guard let path = DiskFullTests.mountTmpfs(megabytes: 1) else { return false }
        #if canImport(Glibc)
            umount2(path, Int32(MNT_DETACH))
        #endif
        try? FileManager.default.removeItem(atPath: path)
        return true
    }()
}

/// The server's disk full: JetStream's store on a tmpfs of 8 MiB that the test mounts. It needs root
/// (or CAP_SYS_ADMIN): without it the suite is skipped, except under CI (which runs as root), where
/// it fails. Writes must end typed within their deadline while the disk is full, and after the disk
/// grows and the server restarts nothing acknowledged is missing.
@Suite(
    .enabled(
        if: NATSServerFixture.isAvailable
            && (TmpfsMount.isPermitted || ProcessInfo.processInfo.environment["CI"] != nil),
        "needs permission to mount a tmpfs (root)"),
    .serialized, .timeLimit(.minutes(2)))
struct DiskFullTests {

    /// Mounts a tmpfs of `megabytes` at a new folder; `nil` when mounting is not permitted.
    static func mountTmpfs(megabytes: Int) -> String? {
        #if canImport(Glibc)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "eventbase-diskfull-\(UUID().uuidString)"
            ).path
            guard (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil
            else { return nil }
            guard mount("tmpfs", path, "tmpfs", 0, "size=\(megabytes)m") == 0 else {
                try? FileManager.default.removeItem(atPath: path)
                return nil
            }
            return path
        #else
            return nil
        #endif
    }

    @Test func aFullDiskFailsWritesTypedAndLosesNothingOnceItHasRoom() async throws {
        guard let disk = Self.mountTmpfs(megabytes: 8) else {
            Issue.record("Could not mount a tmpfs (errno \(errno)); CI must run as root.")
            return
        }
        defer {
            umount2(disk, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: disk)
        }
        let seed = scenarioSeed(95)
        let batch = scenarioLoad(100)
        let stream = "faults_disk_full"
        var configuration = NATSServerFixture.Configuration()
        configuration.jetStreamStoreDirectory = disk
        configuration.jetStreamMaxFileStore = 1 << 30
        try await withNATSServer(configuration) { server in
            let instance = try await Instance.open(url: server.url, stream: stream)
            let load = WriteLoad(history: FaultHistory())
            let history = load.history
            // The scenario watches each write fail typed while the disk is full: no retries.
            load.start(on: instance.eventbase, writers: 2, seed: seed, maxRetries: 0)
            do {
                try await history.waitUntilAcknowledged(batch, timeout: .seconds(30), "writes before the fill")
                // Fill the disk with 64 KiB documents until a write fails.
                let padding = String(repeating: "x", count: 64 * 1024)
                let fault = history.fault("disk-full")
                let filled = try await withDeadline(.seconds(60), clock: ContinuousClock(), "filling the disk") {
                    var filled = 0
                    while true {
                        filled += 1
                        let key = "fill-\(filled)"
                        let value: JSONValue = ["op": .string(key), "n": 1, "pad": .string(padding)]
                        let index = history.invoke(key: key, value: value, opID: key)
                        do {
                            let record = try await instance.eventbase.put(key, value)
                            history.complete(index, outcome: .ok, sequence: record.meta.revision)
                        } catch {
                            history.complete(index, error: error)
                            return filled
                        }
                    }
                }
                // Every writer's next writes end (typed) while the disk stays full.
                try await history.waitUntilCompleted(
                    history.completed + 8, timeout: .seconds(60), "writes on the full disk")
                let failedWhileFull = history.operations.filter { $0.outcome != .ok }.count
                // Give the disk room, then restart the server (a full disk leaves JetStream disabled).
                #expect(mount("tmpfs", disk, "tmpfs", UInt(MS_REMOUNT), "size=64m") == 0, "remount: errno \(errno)")
                #expect(await server.terminate())
                try await server.startAgain()
                history.lift(fault)
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(60), "writes after the disk has room")
                let report = try await finish(
                    "server-disk-full", seed: seed, load: load, url: server.url, stream: stream, instances: [instance],
                    deadline: operationDeadline)
                print(
                    "FAULT-FIGURES scenario=server-disk-full fillWrites=\(filled) failedWhileFull=\(failedWhileFull) errors=\(report.errors)"
                )
            } catch {
                await load.stop()
                await instance.close()
                throw error
            }
            await instance.close()
        }
    }
}
