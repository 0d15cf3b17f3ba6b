// Fuzzes the snapshot decoders: the header prefix and header, the zlib body under a size limit and
// the record codec. Checksums are skipped so mutations reach the parsers behind them.
import CFuzzDriver
import EventbaseCore
import Foundation

@testable import EventbaseFileStore

func expectTyped(_ body: () throws -> Void) {
    do {
        try body()
    } catch {
        guard error is EventbaseError else { fatalError("a snapshot decoder threw \(type(of: error))") }
    }
}

/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    expectTyped { _ = try SnapshotHeader.prefix(bytes) }
    _ = SnapshotHeader.checksumMatches(bytes)
    expectTyped { _ = try SnapshotHeader(decoding: bytes) }
    expectTyped {
        try bytes.withUnsafeBytes { buffer in
            for version: UInt16 in [1, 2] {
                var reader = ByteReader(buffer)
                while try SnapshotRecordCodec.decode(
                    from: &reader, version: version, limits: JSONLimits(maxDepth: 64, maxBytes: 1 << 20)) != nil
                {}
            }
        }
    }
    expectTyped {
        let inflater = try Inflater(limit: 1 << 20)
        var inflated: [UInt8] = []
        try bytes.withUnsafeBytes { buffer in
            try inflater.inflate(buffer) { inflated.append(contentsOf: $0) }
        }
        try inflated.withUnsafeBytes { buffer in
            for version: UInt16 in [1, 2] {
                var reader = ByteReader(buffer)
                while try SnapshotRecordCodec.decode(
                    from: &reader, version: version, limits: JSONLimits(maxDepth: 64, maxBytes: 1 << 20)) != nil
                {}
            }
        }
    }
    return 0
}

exit(eventbase_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, testOneInput))
