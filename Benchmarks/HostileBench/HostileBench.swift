// Times hostile input end to end on the in-memory backend: catastrophic-backtracking regexes on
// 10,000-character inputs (directly, through $regex and through keys(pattern)), queries and JSON
// past their limits, and poison messages through the event decoder. Prints one line per case, the
// number of cases and the slowest; exits 1 if any case is over its budget (100 ms by default).
//
//     swift run -c release HostileBench [--budget-ms N] [--json FILE]
import EventbaseCore
import EventbaseMemory
import Foundation

struct Case: Codable {
    var name: String
    var milliseconds: Double
    var outcome: String
}

@main
struct HostileBench {
    static func main() async throws {
        var arguments = CommandLine.arguments.dropFirst()
        var budget = 100.0
        var jsonPath: String?
        while let argument = arguments.popFirst() {
            switch argument {
            case "--budget-ms": budget = Double(arguments.popFirst() ?? "") ?? budget
            case "--json": jsonPath = arguments.popFirst()
            default:
                FileHandle.standardError.write(Data("usage: HostileBench [--budget-ms N] [--json FILE]\n".utf8))
                exit(2)
            }
        }
        var cases: [Case] = []
        func time(_ name: String, _ body: () async throws -> String) async {
            let clock = ContinuousClock()
            let start = clock.now
            let outcome: String
            do {
                outcome = try await body()
            } catch let error as EventbaseError {
                outcome = "error .\(error.code)"
            } catch let error as LinearRegexError {
                outcome = "error \(error.kind)"
            } catch {
                outcome = "error \(type(of: error))"
            }
            let (seconds, attoseconds) = (clock.now - start).components
            let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
            cases.append(Case(name: name, milliseconds: milliseconds, outcome: outcome))
            print(String(format: "%9.3f ms  %-60@ %@", milliseconds, name as NSString, outcome as NSString))
        }

        let patterns = [
            "(a+)+b", "(a|a)*$", "(a*)*b", "(x+x+)+y", "(a|aa)+$", "^(a?){25}a{25}$", "(\\w+\\s?)+$", "(.*a){20}",
            "^(([a-z])+.)+[A-Z]([a-z])+$", "(a|b|ab)*c", "([a-zA-Z]+)*$", "(?:a{1,1000}){1,2}b",
            // The worst the default limits allow: about 1,000 threads alive at every position.
            "a{0,999}b", "(?:a?){999}$", "(?:a|b|aa?){300}c",
            // The largest programs of each shape that the default limit (500 instructions) admits.
            "a{0,240}b", "(?:a?){240}$", "(?:a|b|aa?){40}c",
        ]
        // What $regex and keys(pattern) accept by default.
        let queryLimits = LinearRegex.Limits(
            maxPatternLength: QueryLimits.default.maxPatternLength,
            maxProgramSize: QueryLimits.default.maxRegexProgramSize)
        let inputs = [
            ("a×10000", String(repeating: "a", count: 10_000)),
            ("a×10000+!", String(repeating: "a", count: 10_000) + "!"),
            ("ab×5000", String(repeating: "ab", count: 5000)),
        ]

        // 1. The matcher alone.
        for pattern in patterns {
            for (label, input) in inputs {
                await time("LinearRegex /\(pattern)/ on \(label)") {
                    let regex = try LinearRegex(pattern, limits: queryLimits)
                    var steps = 0
                    let matched = regex.matches(input, stepCount: &steps)
                    return "\(matched ? "match" : "no match"), \(steps) steps"
                }
            }
        }

        // 2. Through a query and through keys(pattern), on a replica holding the inputs.
        let eventbase = try await EventbaseBuilder(streamName: "hostile", clock: ContinuousClock(), now: { Date() })
            .eventLog(InMemoryEventLog(streamName: "hostile")).stateStore(InMemoryStateStore()).build()
        for (index, (_, input)) in inputs.enumerated() {
            _ = try await eventbase.put("doc\(index)", ["s": .string(input)])
        }
        let longKey = String(repeating: "a", count: NameRules.maxKeyBytes(stream: "hostile"))
        _ = try await eventbase.put(longKey, ["n": 1])
        for pattern in patterns {
            await time("query $regex /\(pattern)/ over 3 × 10,000 chars") {
                "\(try await eventbase.query(["s": ["$regex": .string(pattern)]]).count) results"
            }
            await time("keys(/\(pattern)/) over a \(longKey.count)-byte key") {
                "\(try await eventbase.keys(pattern).count) keys"
            }
        }

        // 3. Unsupported features and limits: typed errors, at once.
        let rejected: [(String, String)] = [
            ("back-reference", "(a)\\1"), ("lookahead", "a(?=b)"), ("lookbehind", "(?<=a)b"),
            ("unicode property", "\\p{L}"), ("5,000-char pattern", String(repeating: "a", count: 5000)),
            ("counted repetition blow-up", "(?:(?:a{1000}){1000}){1000}"),
            ("10,000 nested groups", String(repeating: "(", count: 10_000) + String(repeating: ")", count: 10_000)),
        ]
        for (name, pattern) in rejected {
            await time("query $regex \(name)") { "\(try await eventbase.query(["s": ["$regex": .string(pattern)]]))" }
            await time("keys(\(name))") { "\(try await eventbase.keys(pattern))" }
        }
        var deep: JSONValue = ["s": "a"]
        for _ in 0..<40 { deep = ["$and": [deep]] }
        await time("query nested 40 deep") { "\(try await eventbase.query(deep).count)" }
        let bigList = JSONValue.array((0..<20_000).map { .number(Double($0)) })
        await time("query $in of 20,000") { "\(try await eventbase.query(["n": ["$in": bigList]]).count)" }
        var wide = JSONObject()
        for index in 0..<5000 { wide["f\(index)"] = .number(Double(index)) }
        await time("query of 5,000 conditions") { "\(try await eventbase.query(.object(wide)).count)" }
        await time("put of a document nested 200 deep") {
            var nested: JSONValue = 1
            for _ in 0..<200 { nested = ["x": nested] }
            return "\(try await eventbase.put("deep", ["d": nested]).meta.revision)"
        }

        // 4. Poison through the event decoder.
        for message in PoisonLike.all(stream: "hostile") {
            await time("decode poison: \(message.0)") {
                let entry = EventCodec.entry(
                    sequence: 1, time: Date(), subject: message.1, stream: "hostile", payload: message.2)
                if case .invalid(_, _, let kind) = entry.payload { return "skipped as \(kind)" }
                return "decoded"
            }
        }
        await eventbase.close()

        let slowest = cases.max { $0.milliseconds < $1.milliseconds }!
        let over = cases.filter { $0.milliseconds > budget }
        print(
            "hostile cases: \(cases.count); slowest: \(String(format: "%.3f", slowest.milliseconds)) ms (\(slowest.name))"
        )
        print("over the \(budget) ms budget: \(over.count)")
        if let jsonPath {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(cases).write(to: URL(fileURLWithPath: jsonPath))
        }
        if !over.isEmpty { exit(1) }
    }
}

/// Poison payloads (the same kinds as the tests' `PoisonMessage`).
enum PoisonLike {
    static func all(stream: String) -> [(String, String, [UInt8])] {
        let put = "\(stream).YQ==-put"
        return [
            ("non-JSON", put, Array("not json".utf8)),
            ("1 MiB of '['", put, Array(repeating: UInt8(ascii: "["), count: 1 << 20)),
            (
                "1 MiB string", put,
                Array(#"{"type":"PUT","id":"a","data":{"s":""#.utf8)
                    + Array(repeating: UInt8(ascii: "x"), count: 1 << 20) + Array(#""}}"#.utf8)
            ),
            ("invalid UTF-8", put, [0x7B, 0xFF, 0xFE, 0x7D]),
            ("empty", put, []),
            ("wrong shape", put, Array("[1,2,3]".utf8)),
            ("unexpected subject", "\(stream).zzz", Array(#"{"type":"PUT","id":"a","data":{}}"#.utf8)),
            ("100,000 numbers", put, Array(("[" + (0..<100_000).map(String.init).joined(separator: ",") + "]").utf8)),
        ]
    }
}
