// Fuzzes the query parser and evaluator, and the regex engine behind $regex and keys(pattern).
// An input is `query JSON` NUL `document JSON`, or, when it is no JSON, a regex pattern and its input.
// Parsing must end in a query or a typed error; matching must terminate within its step bound.
import CFuzzDriver
import EventbaseCore
import Foundation

enum Seeds {
    static let documents: [JSONValue] = [
        [:], ["a": 1, "b": "x", "c": [1, 2, ["d": true]], "e": nil, "f": ["g": ["h": "i"]]],
        ["name": "Ann", "age": 30, "tags": ["a", "b"], "address": ["city": "Oslo", "zip": "0150"]],
    ]
}

/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
    if let json = try? JSONValue(jsonBytes: Array(parts[0])) {
        do {
            let query = try Query(json)
            var targets = Seeds.documents
            if parts.count > 1, let document = try? JSONValue(jsonBytes: Array(parts[1])) { targets.append(document) }
            for document in targets { _ = query.matches(document) }
            _ = query.description
        } catch {
            guard let error = error as? EventbaseError, [.invalidQuery, .limitExceeded].contains(error.code) else {
                fatalError("Query threw \(error)")
            }
        }
        return 0
    }
    let pattern = String(decoding: parts[0], as: UTF8.self)
    let input = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
    for flags in ["", "i", "ms"] {
        guard let regex = try? LinearRegex(pattern: pattern, flags: flags) else { continue }
        var steps = 0
        _ = regex.matches(input, stepCount: &steps)
        let bound = 2 * (input.unicodeScalars.count + 1) * regex.programSize
        if steps > bound { fatalError("/\(pattern)/\(flags) took \(steps) steps, over its bound of \(bound)") }
    }
    return 0
}

exit(eventbase_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, testOneInput))
