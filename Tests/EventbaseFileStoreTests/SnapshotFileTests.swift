import EventbaseCore
import Foundation
import Testing

@testable import EventbaseFileStore

/// Snapshots read back exactly, and damaged, foreign, newer or hostile files are handled.
@Suite struct SnapshotFileTests {
    static let stream = "snapshots"
    static let identity = StreamIdentity(name: stream, created: Date(timeIntervalSince1970: 1_700_000_000.5))

    /// Writes two snapshots for ``stream`` under `directory`: the older at sequence 10 (10 records),
    /// the newer at sequence 20 (20 records). Returns the files, newest first.
    private func makeTwoSnapshots(in directory: String, stream: String = Self.stream) async throws -> [String] {
        let store = FileStateStore(
            directory: directory, options: .init(snapshotEveryEvents: nil, snapshotInterval: nil))
        _ = try await store.open(stream: stream)
        try store.reset(identity: StreamIdentity(name: stream, created: Self.identity.created))
        try store.apply(sampleBatch(from: 0, count: 10))
        try await store.checkpoint()
        try store.apply(sampleBatch(from: 10, count: 10))
        try await store.checkpoint()
        try await store.close()
        let files = try snapshotFiles(in: store.folder(for: stream))
        try #require(files.count == 2)
        return files
    }

    private func open(
        _ directory: String, options: FileStateStore.Options = .init(snapshotEveryEvents: nil, snapshotInterval: nil)
    ) async throws -> (FileStateStore, StoreCheckpoint) {
        let store = FileStateStore(directory: directory, options: options)
        let checkpoint = try await store.open(stream: Self.stream)
        return (store, checkpoint)
    }

    private func headerLength(of file: String) throws -> Int {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        return Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
    }

    private func modify(_ file: String, _ change: (inout [UInt8]) throws -> Void) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        try change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }

    @Test func manyRecordsRoundTripExactly() async throws {
        try await withTemporaryDirectory { directory in
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint == .empty)
            try store.reset(identity: Self.identity)
            for start in stride(from: 0, to: 20_000, by: 1_000) {
                try store.apply(sampleBatch(from: start, count: 1_000))
            }
            try store.apply(StateBatch(changes: [.init(key: "key-7", record: nil)], lastAppliedSequence: 20_001))
            try await store.close()

            let (reopened, resumed) = try await open(directory)
            #expect(resumed == StoreCheckpoint(lastAppliedSequence: 20_001, identity: Self.identity))
            #expect(reopened.count == 19_999)
            #expect(reopened.record(forKey: "key-7") == nil)
            var visited = 0
            try reopened.forEachRecord { key, record in
                visited += 1
                let index = Int(key.dropFirst("key-".count))!
                try #require(record == sampleRecord(key, index, sequence: UInt64(index + 1)))
            }
            #expect(visited == 19_999)
            try await reopened.close()
        }
    }

    @Test func aSnapshotWithNothingNewIsNotWrittenAgain() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let (store, _) = try await open(directory)
            try await store.checkpoint()
            try await store.close()
            #expect(try snapshotFiles(in: store.folder(for: Self.stream)) == files)
        }
    }

    @Test(arguments: ["body", "header"])
    func aFlippedByteSkipsToTheOlderSnapshot(_ place: String) async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let length = try headerLength(of: files[0])
            try modify(files[0]) { bytes in
                bytes[place == "body" ? length + 10 : 30] ^= 0x01
            }
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 10)
            #expect(checkpoint.identity == Self.identity)
            #expect(store.count == 10)
            try await store.close()
        }
    }

    @Test func whenEverySnapshotIsDamagedTheStoreStartsEmpty() async throws {
        try await withTemporaryDirectory { directory in
            for file in try await makeTwoSnapshots(in: directory) {
                let length = try headerLength(of: file)
                try modify(file) { $0[length + 3] ^= 0x80 }
            }
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint == .empty)
            #expect(store.count == 0)
            try await store.close()
        }
    }

    @Test(arguments: [0.0, 0.01, 0.5, 0.99])
    func aTruncatedSnapshotIsSkipped(_ fraction: Double) async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            try modify(files[0]) { bytes in
                bytes.removeLast(bytes.count - Int(Double(bytes.count) * fraction))
            }
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 10)
            try await store.close()
        }
    }

    @Test func trailingBytesMakeASnapshotInvalid() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            try modify(files[0]) { $0 += [0, 0, 0, 0] }
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 10)
            try await store.close()
        }
    }

    @Test func aSnapshotOfAnotherStreamIsSkipped() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let others = try await makeTwoSnapshots(in: directory + "/elsewhere", stream: "other")
            let folder = (files[0] as NSString).deletingLastPathComponent
            try FileManager.default.copyItem(atPath: others[0], toPath: folder + "/snapshot-00000000000000ff.ebsnap")
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 20)
            try await store.close()
        }
    }

    @Test func aSnapshotOfANewerFormatIsATypedError() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            try modify(files[0]) { bytes in
                let length = Int(bytes[12]) | Int(bytes[13]) << 8
                bytes[8] = 4
                let checksum = CRC32.checksum(Array(bytes[..<(length - 4)]))
                bytes.setLittleEndian(checksum, at: length - 4)
            }
            let store = FileStateStore(directory: directory)
            let error = await #expect(throws: EventbaseError.self) { try await store.open(stream: Self.stream) }
            #expect(error?.code == .unsupportedVersion)
            #expect(error?.message.contains("format version 4") == true)
            // The folder is not left locked: another store gets the same answer, not "in use".
            let again = await #expect(throws: EventbaseError.self) {
                try await FileStateStore(directory: directory).open(stream: Self.stream)
            }
            #expect(again?.code == .unsupportedVersion)
        }
    }

    @Test func headersCarryTheTimeOfTheNewestEntryAndVersion2HeadersStillRead() throws {
        var header = SnapshotHeader(
            generation: 7, streamName: "s",
            identity: StreamIdentity(name: "s", created: Date(millisecondsSince1970: 5)),
            lastAppliedSequence: 42, recordCount: 3)
        header.lastAppliedTime = Date(millisecondsSince1970: 1_700_000_000_123)
        let decoded = try SnapshotHeader(decoding: header.encoded())
        #expect(decoded.version == 3 && decoded.generation == 7 && decoded.lastAppliedSequence == 42)
        #expect(decoded.lastAppliedTime?.millisecondsSince1970 == 1_700_000_000_123)
        var unknown = header
        unknown.lastAppliedTime = nil
        #expect(try SnapshotHeader(decoding: unknown.encoded()).lastAppliedTime == nil)
        var older = header
        older.version = 2
        let version2 = try SnapshotHeader(decoding: older.encoded())
        #expect(version2.version == 2 && version2.lastAppliedSequence == 42 && version2.lastAppliedTime == nil)
    }

    @Test func aHugeDeclaredSizeIsRejectedBeforeReading() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let folder = (files[0] as NSString).deletingLastPathComponent
            var header = SnapshotHeader(
                generation: 0xff, streamName: Self.stream, identity: Self.identity, lastAppliedSequence: 99,
                recordCount: 1)
            header.uncompressedLength = 1 << 62
            header.compressedLength = 0
            try Data(header.encoded()).write(to: URL(fileURLWithPath: folder + "/snapshot-00000000000000ff.ebsnap"))
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 20)
            try await store.close()
        }
    }

    @Test func theSizeLimitIsAnOption() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let newest = try [UInt8](Data(contentsOf: URL(fileURLWithPath: files[0])))
            let newestBody = (40..<48).reduce(UInt64(0)) { $0 | UInt64(newest[$1]) << (8 * UInt64($1 - 40)) }
            let (store, checkpoint) = try await open(
                directory,
                options: .init(snapshotEveryEvents: nil, snapshotInterval: nil, maxSnapshotBytes: newestBody - 1))
            #expect(checkpoint.lastAppliedSequence == 10)
            try await store.close()
        }
    }

    /// Writes a snapshot file of generation 0xff into `folder` with `body` (uncompressed) as its records.
    private func writeSnapshot(
        _ body: [UInt8], version: UInt16, recordCount: Int, sequence: UInt64, into folder: String
    ) throws {
        var compressed: [UInt8] = []
        var checksum = CRC32()
        let deflater = try Deflater(level: 6) { chunk in
            checksum.update(chunk)
            compressed.append(contentsOf: chunk)
        }
        try deflater.write(body)
        try deflater.finish()
        var header = SnapshotHeader(
            generation: 0xff, streamName: Self.stream, identity: Self.identity, lastAppliedSequence: sequence,
            recordCount: UInt64(recordCount))
        header.version = version
        header.uncompressedLength = UInt64(body.count)
        header.compressedLength = UInt64(compressed.count)
        header.bodyChecksum = checksum.value
        try Data(header.encoded() + compressed).write(
            to: URL(fileURLWithPath: folder + "/snapshot-00000000000000ff.ebsnap"))
    }

    @Test func aVersionOneSnapshotWithJSONDataStillLoads() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let folder = (files[0] as NSString).deletingLastPathComponent
            let batch = sampleBatch(from: 0, count: 25)
            var body: [UInt8] = []
            for change in batch.changes {
                SnapshotRecordCodec.encodeVersion1(key: change.key, record: try #require(change.record), into: &body)
            }
            try writeSnapshot(body, version: 1, recordCount: 25, sequence: 25, into: folder)
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 25)
            for change in batch.changes {
                #expect(store.record(forKey: change.key) == change.record)
            }
            // The next snapshot is written in the current version and reads back the same.
            try store.apply(sampleBatch(from: 25, count: 1))
            try await store.close()
            let (reopened, again) = try await open(directory)
            #expect(again.lastAppliedSequence == 26)
            #expect(reopened.count == 26)
            #expect(reopened.record(forKey: "key-3") == batch.changes[3].record)
            try await reopened.close()
        }
    }

    @Test(arguments: [
        [9] as [UInt8],  // an unknown tag
        [5, 5, 0x61],  // a string longer than its bytes
        [5, 2, 0xC3, 0x28],  // invalid UTF-8
        [7, 2, 1, 0x61, 0, 1, 0x61, 0],  // a repeated key
        [3, 0, 0, 0, 0, 0, 0, 0xF0, 0x7F],  // infinity
        [0, 0],  // a byte after the value
        [6, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // a count larger than the bytes
    ])
    func aMalformedPackedRecordSkipsToTheOlderSnapshot(_ data: [UInt8]) async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let folder = (files[0] as NSString).deletingLastPathComponent
            var body: [UInt8] = []
            body.appendLittleEndian(UInt32(1))
            body += Array("k".utf8)
            body += [UInt8](repeating: 0, count: 32)
            body.appendLittleEndian(UInt32(data.count))
            body += data
            try writeSnapshot(body, version: 2, recordCount: 1, sequence: 99, into: folder)
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 20)
            try await store.close()
        }
    }

    @Test func aDecompressionBombStopsAtTheDeclaredSize() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let folder = (files[0] as NSString).deletingLastPathComponent
            // One record claiming 4 GiB of data, followed by 256 MiB of zeros (≈ 250 KiB compressed).
            var body: [UInt8] = []
            var checksum = CRC32()
            let deflater = try Deflater(level: 9) { chunk in
                checksum.update(chunk)
                body.append(contentsOf: chunk)
            }
            var prefix: [UInt8] = []
            prefix.appendLittleEndian(UInt32(1))
            prefix += Array("k".utf8)
            prefix += [UInt8](repeating: 0, count: 32)
            prefix.appendLittleEndian(UInt32.max)
            try deflater.write(prefix)
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            for _ in 0..<256 { try deflater.write(zeros) }
            try deflater.finish()
            var header = SnapshotHeader(
                generation: 0xff, streamName: Self.stream, identity: Self.identity, lastAppliedSequence: 99,
                recordCount: 1)
            header.uncompressedLength = 1 << 20
            header.compressedLength = UInt64(body.count)
            header.bodyChecksum = checksum.value
            try Data(header.encoded() + body).write(
                to: URL(fileURLWithPath: folder + "/snapshot-00000000000000ff.ebsnap"))
            let (store, checkpoint) = try await open(directory)
            #expect(checkpoint.lastAppliedSequence == 20)
            try await store.close()
        }
    }

    @Test func anUnfinishedTemporaryFileIsIgnoredAndRemoved() async throws {
        try await withTemporaryDirectory { directory in
            let files = try await makeTwoSnapshots(in: directory)
            let folder = (files[0] as NSString).deletingLastPathComponent
            // A crash mid-write leaves a temporary file: a complete-looking copy and a torn one.
            let complete = folder + "/snapshot-0000000000000010.ebsnap.tmp"
            let torn = folder + "/snapshot-0000000000000011.ebsnap.tmp"
            try FileManager.default.copyItem(atPath: files[0], toPath: complete)
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: torn))
            let recorder = SnapshotRecorder()
            let (store, checkpoint) = try await open(
                directory,
                options: .init(snapshotEveryEvents: nil, snapshotInterval: nil, onSnapshot: recorder.callback))
            #expect(checkpoint.lastAppliedSequence == 20)
            #expect(!FileManager.default.fileExists(atPath: complete))
            #expect(!FileManager.default.fileExists(atPath: torn))
            try store.apply(sampleBatch(from: 20, count: 1))
            try await store.checkpoint()
            let written = try await recorder.next()
            #expect(written.generation > 0x11)
            try await store.close()
            #expect(try snapshotFiles(in: folder) == [written.path, files[0]])
        }
    }

    @Test func aResetRemovesOlderSnapshots() async throws {
        try await withTemporaryDirectory { directory in
            _ = try await makeTwoSnapshots(in: directory)
            let (store, _) = try await open(directory)
            try store.reset(identity: StreamIdentity(name: Self.stream, created: nil))
            try await store.close()
            let files = try snapshotFiles(in: store.folder(for: Self.stream))
            #expect(files.count == 1)
            let (reopened, checkpoint) = try await open(directory)
            #expect(
                checkpoint == StoreCheckpoint(lastAppliedSequence: 0, identity: .init(name: Self.stream, created: nil)))
            #expect(reopened.count == 0)
            try await reopened.close()
        }
    }

    @Test func aSecondStoreCannotOpenALockedFolder() async throws {
        try await withTemporaryDirectory { directory in
            let (store, _) = try await open(directory)
            let error = await #expect(throws: EventbaseError.self) {
                try await FileStateStore(directory: directory).open(stream: Self.stream)
            }
            #expect(error?.code == .storageFailure)
            try await store.close()
            let (again, _) = try await open(directory)
            try await again.close()
        }
    }

    @Test(arguments: [
        "", ".", "..", "../..", "a/b", "with space", "日本語", "%41", "A", String(repeating: "x", count: 300),
    ])
    func anyStreamNameIsASafeFolder(_ name: String) async throws {
        let escaped = StreamFolderName.escape(name)
        #expect(!escaped.isEmpty && escaped.utf8.count <= 200)
        #expect(!escaped.contains("/") && escaped != "." && escaped != "..")
        try await withTemporaryDirectory { directory in
            let store = FileStateStore(directory: directory)
            _ = try await store.open(stream: name)
            try store.apply(sampleBatch(from: 0, count: 1))
            try await store.close()
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [escaped])
            let reopened = FileStateStore(directory: directory)
            #expect(try await reopened.open(stream: name).lastAppliedSequence == 1)
            try await reopened.close()
        }
    }

    @Test func distinctNamesGetDistinctFolders() {
        let names = ["a.b", "a%2Eb", "a_b", "a-b", "A.B", "%", "", "%25"]
        #expect(Set(names.map(StreamFolderName.escape)).count == names.count)
    }
}
