// Fuzzes the JetStream API response decoders: stream info, consumer info, API errors, publish acks,
// stored-message headers and the ack metadata in reply subjects. Each must end in a value or a typed error.
import CFuzzDriver
import EventbaseCore
import Foundation

@testable import EventbaseJetStream

/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let json = try? JSONValue(jsonBytes: bytes) {
        _ = JetStreamStreamInfo(json: json)
        _ = JetStreamConsumerInfo(json: json)
        if let error = json["error"] { _ = JetStreamAPIError(json: error).eventbaseError("fuzz") }
        _ = JetStreamAPIError(json: json).eventbaseError("fuzz")
        _ = JetStreamStreamConfig(json: json["config"] ?? json)
    }
    do {
        _ = try JetStreamContext.parsePubAck(bytes, subject: "fuzz.subject")
    } catch {
        guard error is EventbaseError else { fatalError("parsePubAck threw \(type(of: error))") }
    }
    _ = JetStreamContext.parseHeaders(bytes)
    _ = AckMetadata(String(decoding: bytes, as: UTF8.self))
    return 0
}

exit(eventbase_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, testOneInput))
