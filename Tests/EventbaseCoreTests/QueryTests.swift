import EventbaseCore
import Testing

@Suite struct QueryTests {
    static let ann: JSONValue = [
        "name": "Ann", "age": 31, "tags": ["admin", "dev"], "address": ["city": "Oslo", "zip": "0150"],
        "scores": [3, 7, 9], "pets": [["kind": "cat", "age": 2], ["kind": "dog", "age": 5]], "nickname": nil,
        "active": true,
    ]

    struct Case: CustomTestStringConvertible, Sendable {
        let query: JSONValue
        let matches: Bool
        var testDescription: String { "\(query.jsonString().prefix(80)) → \(matches)" }
    }

    static let cases: [Case] = [
        // Implicit equality, dotted paths, arrays by element.
        Case(query: [:], matches: true),
        Case(query: ["name": "Ann"], matches: true),
        Case(query: ["name": "Bob"], matches: false),
        Case(query: ["age": 31.0], matches: true),
        Case(query: ["address.city": "Oslo"], matches: true),
        Case(query: ["address": ["zip": "0150", "city": "Oslo"]], matches: true),
        Case(query: ["address": ["city": "Oslo"]], matches: false),
        Case(query: ["tags": "dev"], matches: true),
        Case(query: ["tags": ["admin", "dev"]], matches: true),
        Case(query: ["tags": ["dev", "admin"]], matches: false),
        Case(query: ["tags.0": "admin"], matches: true),
        Case(query: ["pets.kind": "dog"], matches: true),
        Case(query: ["pets.1.kind": "dog"], matches: true),
        Case(query: ["pets.0.kind": "dog"], matches: false),
        Case(query: ["missing": nil], matches: true),
        Case(query: ["nickname": nil], matches: true),
        Case(query: ["name.first": "Ann"], matches: false),
        // $eq / $ne.
        Case(query: ["name": ["$eq": "Ann"]], matches: true),
        Case(query: ["name": ["$ne": "Ann"]], matches: false),
        Case(query: ["missing": ["$ne": 1]], matches: true),
        Case(query: ["tags": ["$ne": "dev"]], matches: false),
        // Comparisons: same types only.
        Case(query: ["age": ["$gt": 30]], matches: true),
        Case(query: ["age": ["$gt": 31]], matches: false),
        Case(query: ["age": ["$gte": 31]], matches: true),
        Case(query: ["age": ["$lt": 31]], matches: false),
        Case(query: ["age": ["$lte": 31]], matches: true),
        Case(query: ["age": ["$gt": 30, "$lt": 32]], matches: true),
        Case(query: ["age": ["$gt": "30"]], matches: false),
        Case(query: ["name": ["$gt": "Al"]], matches: true),
        Case(query: ["name": ["$lt": "B"]], matches: true),
        Case(query: ["name": ["$gt": 1]], matches: false),
        Case(query: ["scores": ["$gt": 8]], matches: true),
        Case(query: ["scores": ["$gt": 9]], matches: false),
        Case(query: ["missing": ["$lt": 100]], matches: false),
        Case(query: ["pets.age": ["$gte": 5]], matches: true),
        // $in / $nin / $all.
        Case(query: ["name": ["$in": ["Bob", "Ann"]]], matches: true),
        Case(query: ["name": ["$in": []]], matches: false),
        Case(query: ["tags": ["$in": ["dev", "x"]]], matches: true),
        Case(query: ["missing": ["$in": [nil]]], matches: true),
        Case(query: ["name": ["$nin": ["Bob"]]], matches: true),
        Case(query: ["tags": ["$nin": ["dev"]]], matches: false),
        Case(query: ["missing": ["$nin": ["x"]]], matches: true),
        Case(query: ["tags": ["$all": ["dev", "admin"]]], matches: true),
        Case(query: ["tags": ["$all": ["dev", "ops"]]], matches: false),
        Case(query: ["tags": ["$all": []]], matches: false),
        // $exists.
        Case(query: ["name": ["$exists": true]], matches: true),
        Case(query: ["missing": ["$exists": true]], matches: false),
        Case(query: ["missing": ["$exists": false]], matches: true),
        Case(query: ["nickname": ["$exists": true]], matches: true),
        // $not.
        Case(query: ["age": ["$not": ["$gt": 40]]], matches: true),
        Case(query: ["age": ["$not": ["$gt": 30]]], matches: false),
        Case(query: ["missing": ["$not": ["$gt": 30]]], matches: true),
        // $regex / $sw.
        Case(query: ["name": ["$regex": "^A"]], matches: true),
        Case(query: ["name": ["$regex": "^a"]], matches: false),
        Case(query: ["name": ["$regex": "^a", "$options": "i"]], matches: true),
        Case(query: ["name": ["$regex": "n{2}"]], matches: true),
        Case(query: ["tags": ["$regex": "^ad"]], matches: true),
        Case(query: ["age": ["$regex": "3"]], matches: false),
        Case(query: ["name": ["$sw": "An"]], matches: true),
        Case(query: ["name": ["$sw": "nn"]], matches: false),
        Case(query: ["tags": ["$sw": "de"]], matches: true),
        // Logical operators, top level and nested.
        Case(query: ["$and": [["name": "Ann"], ["age": 31]]], matches: true),
        Case(query: ["$and": [["name": "Ann"], ["age": 30]]], matches: false),
        Case(query: ["$or": [["name": "Bob"], ["age": 31]]], matches: true),
        Case(query: ["$or": [["name": "Bob"], ["age": 30]]], matches: false),
        Case(query: ["$nor": [["name": "Bob"], ["age": 30]]], matches: true),
        Case(query: ["$nor": [["name": "Ann"]]], matches: false),
        Case(query: ["$or": [["$and": [["name": "Ann"], ["active": true]]], ["age": 99]]], matches: true),
        Case(query: ["name": "Ann", "$or": [["age": 1], ["tags": "dev"]]], matches: true),
        // Booleans and null are only equal to themselves.
        Case(query: ["active": true], matches: true),
        Case(query: ["active": 1], matches: false),
        Case(query: ["age": "31"], matches: false),
    ]

    @Test(arguments: cases)
    func operatorsMatchAsDocumented(_ testCase: Case) throws {
        #expect(try Query(testCase.query).matches(Self.ann) == testCase.matches)
    }

    struct Invalid: CustomTestStringConvertible, Sendable {
        let query: JSONValue
        let code: EventbaseError.Code
        var testDescription: String { String(query.jsonString().prefix(80)) }
    }

    static let invalid: [Invalid] = [
        Invalid(query: ["age": ["$foo": 1]], code: .invalidQuery),
        Invalid(query: ["$foo": [["a": 1]]], code: .invalidQuery),
        Invalid(query: ["age": ["$gt": [1]]], code: .invalidQuery),
        Invalid(query: ["age": ["$gt": nil]], code: .invalidQuery),
        Invalid(query: ["age": ["$in": 1]], code: .invalidQuery),
        Invalid(query: ["age": ["$nin": "x"]], code: .invalidQuery),
        Invalid(query: ["age": ["$all": ["a": 1]]], code: .invalidQuery),
        Invalid(query: ["age": ["$exists": 1]], code: .invalidQuery),
        Invalid(query: ["age": ["$not": 5]], code: .invalidQuery),
        Invalid(query: ["age": ["$not": ["x": 5]]], code: .invalidQuery),
        Invalid(query: ["name": ["$regex": 5]], code: .invalidQuery),
        Invalid(query: ["name": ["$regex": "(unclosed"]], code: .invalidQuery),
        Invalid(query: ["name": ["$regex": "a", "$options": "q"]], code: .invalidQuery),
        Invalid(query: ["name": ["$options": "i"]], code: .invalidQuery),
        Invalid(query: ["name": ["$sw": 1]], code: .invalidQuery),
        Invalid(query: ["name": ["$eq": 1, "plain": 2]], code: .invalidQuery),
        Invalid(query: ["$and": []], code: .invalidQuery),
        Invalid(query: ["$or": [1]], code: .invalidQuery),
        Invalid(query: ["$nor": ["a": 1]], code: .invalidQuery),
        Invalid(query: [1, 2], code: .invalidQuery),
        Invalid(query: "name", code: .invalidQuery),
        Invalid(query: ["name": ["$in": .array(Array(repeating: 1, count: 10_001))]], code: .limitExceeded),
    ]

    @Test(arguments: invalid)
    func malformedQueriesAreTypedErrorsAtParseTime(_ testCase: Invalid) {
        #expect {
            try Query(testCase.query)
        } throws: { error in
            (error as? EventbaseError)?.code == testCase.code
        }
    }

    @Test func deeplyNestedQueriesHitTheDepthLimit() {
        var query: JSONValue = ["a": 1]
        for _ in 0..<40 { query = ["$and": [query]] }
        #expect {
            try Query(query)
        } throws: { error in
            (error as? EventbaseError)?.code == .limitExceeded
        }
    }

    @Test func errorMessagesNameTheProblem() {
        do {
            _ = try Query(["age": ["$foo": 1]])
            Issue.record("expected an error")
        } catch let error as EventbaseError {
            #expect(error.message.contains("$foo"))
            #expect(error.message.contains("age"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func stringsCompareByUTF16CodeUnitsAsInJavaScript() {
        // U+FF5E (one UTF-16 unit) sorts after U+1F600 (a surrogate pair starting 0xD83D) in JavaScript.
        #expect(JSONOrdering.compareStrings("\u{1F600}", "\u{FF5E}") < 0)
        #expect(JSONOrdering.compareStrings("a", "b") < 0)
        #expect(JSONOrdering.compareStrings("b", "a") > 0)
        #expect(JSONOrdering.compareStrings("ab", "a") > 0)
        #expect(JSONOrdering.compareStrings("x", "x") == 0)
    }
}
