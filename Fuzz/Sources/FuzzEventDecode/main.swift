// Fuzzes event decoding differentially: most payloads are read on a fast path that packs the
// document without a JSON tree, the rest by parsing a tree. Whatever the bytes, EventCodec must give
// what the tree says: the same document (key order included), key, kind and timestamp for an event,
// and an invalid entry exactly when the bytes are not a JSON object of an event.
import CFuzzDriver
import EventbaseCore
import Foundation

/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let payload = Array(UnsafeBufferPointer(start: data, count: size))
    for limits in [JSONLimits.default, JSONLimits(maxDepth: 4, maxStringBytes: 8, maxElements: 4)] {
        let entry = EventCodec.entry(
            sequence: 1, time: Date(timeIntervalSince1970: 0), subject: "s.aw==-put", stream: "s", payload: payload,
            limits: limits)
        let tree = try? JSONValue(jsonBytes: payload, limits: limits)
        switch entry.payload {
        case .event(let event):
            guard let tree, event.kind == .put, event.key == "k", let expected = tree["data"] else {
                fatalError("read as an event, which the tree does not give: \(event)")
            }
            guard event.data?.jsonString() == expected.jsonString() else {
                fatalError("document \(event.data?.jsonString() ?? "nil") read as \(expected.jsonString())")
            }
            let timestamp = tree["timestamp"]?.doubleValue.map { Int64($0.rounded(.down)) } ?? 0
            guard event.timestamp == timestamp else { fatalError("timestamp \(event.timestamp), not \(timestamp)") }
        case .invalid:
            // Invalid: then the tree is no put of "k" with a usable timestamp.
            if let tree, tree["type"] == "PUT", tree["id"] == "k", tree["data"] != nil,
                tree["timestamp"] == nil || tree["timestamp"] == .null
                    || tree["timestamp"]?.doubleValue.map({ $0.isFinite && abs($0) < 9e15 }) == true
            {
                fatalError("a valid put read as invalid: \(entry.payload)")
            }
        }
    }
    return 0
}

exit(eventbase_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, testOneInput))
