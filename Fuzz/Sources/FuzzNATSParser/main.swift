// Fuzzes the NATS protocol parser: the bytes a server (or anything posing as one) sends.
// Each input is decoded whole, then again split at a point the input chooses (the decoder must
// give the same operations either way), and must end in operations or a typed error.
import CFuzzDriver
import EventbaseCore
import Foundation
import NIOCore

@testable import EventbaseNATSCodec

func decodeAll(_ chunks: [ArraySlice<UInt8>]) -> Result<[NATSServerOp], EventbaseError> {
    var decoder = NATSDecoder(maxControlLineLength: 4096, maxPayload: 1 << 20)
    var buffer = ByteBuffer()
    var ops: [NATSServerOp] = []
    do {
        for chunk in chunks {
            buffer.writeBytes(chunk)
            while let op = try decoder.decode(buffer: &buffer) { ops.append(op) }
        }
        return .success(ops)
    } catch let error as EventbaseError {
        return .failure(error)
    } catch {
        fatalError("The NATS decoder threw a non-Eventbase error: \(error)")
    }
}

/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = decodeAll([bytes[...]])
    if let first = bytes.first, bytes.count > 1 {
        let split = 1 + Int(first) % (bytes.count - 1)
        let parts = decodeAll([bytes[..<split], bytes[split...]])
        switch (whole, parts) {
        case (.success(let a), .success(let b)) where a != b:
            fatalError("Decoding split at \(split) gave other operations")
        case (.success, .failure), (.failure, .success):
            fatalError("Decoding split at \(split) disagreed on failure")
        default:
            break
        }
    }
    if case .failure(let error) = whole, error.code != .protocolError {
        fatalError("The NATS decoder failed with .\(error.code), not .protocolError")
    }
    return 0
}

exit(eventbase_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, testOneInput))
