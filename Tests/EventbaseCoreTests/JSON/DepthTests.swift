import EventbaseTestKit
import Testing

@testable import EventbaseCore

@Suite struct DepthTests {
    /// The depth as `JSONLimits.maxDepth` counts it, walked the plain way: the oracle.
    private static func depth(of value: JSONValue) -> Int {
        switch value {
        case .array(let elements): 1 + (elements.map(depth(of:)).max() ?? 0)
        case .object(let object): 1 + (object.map { depth(of: $0.value) }.max() ?? 0)
        default: 0
        }
    }

    /// `nests(deeperThan:)` agrees with the depth for every limit.
    @Test func nestsDeeperThanAgreesWithTheNestingDepth() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<500 {
            let value = RandomJSON.value(using: &generator)
            let depth = Self.depth(of: value)
            for limit in 0...7 {
                #expect(value.nests(deeperThan: limit) == (depth > limit), "limit \(limit), depth \(depth)")
            }
        }
        #expect(!JSONValue.object([:]).nests(deeperThan: 1))
        #expect(JSONValue.array([[]]).nests(deeperThan: 1))
    }

    /// A value nested deeper than the limit is answered from its top `limit + 1` levels.
    @Test func aDeepValueIsAnsweredFromItsTop() {
        var value: JSONValue = 1
        for _ in 0..<2_000 { value = ["next": value] }
        #expect(value.nests(deeperThan: 128))
        #expect(value.nests(deeperThan: 1_999))
        #expect(!value.nests(deeperThan: 2_000))
    }
}
