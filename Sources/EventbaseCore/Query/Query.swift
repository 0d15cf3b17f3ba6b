/// A parsed query: the one query language of `query`, `count`, `subscribe` and `changes(matching:)`.
///
/// Queries are JSON objects of the same shape as eventbase v3 (and MongoDB):
///
/// ```swift
/// let adults = try Query(["age": ["$gte": 18], "status": ["$in": ["active", "pending"]]])
/// let either = try Query(["$or": [["name": ["$regex": "^Jo", "$options": "i"]], ["vip": true]]])
/// ```
///
/// - Fields: a plain value is implicit equality; dotted paths (`"address.city"`) reach into nested
///   objects, and through arrays of objects; numeric components index arrays (`"tags.0"`).
/// - Operators: `$eq $ne $gt $gte $lt $lte $in $nin $all $exists $not $regex` (with `$options`)
///   `$sw` (starts with), and `$and $or $nor` at the top level or nested inside each other.
/// - Arrays: a condition on an array field matches when the array itself or any element matches
///   (`{"tags": "a"}` matches `["a", "b"]`), as MongoDB does.
/// - Types: `$gt`-style comparisons compare numbers with numbers and strings with strings (by UTF-16
///   code units, as JavaScript does); values of other types never match them. `$eq: null` matches
///   a missing field too; `$ne`, `$nin` and `$not` match missing fields.
///
/// Parsing validates everything: an unknown operator, a wrong operand type or an invalid regex
/// throws ``EventbaseError/Code/invalidQuery`` at once; a query past ``QueryLimits`` throws
/// ``EventbaseError/Code/limitExceeded``.
public struct Query: Sendable, Hashable, CustomStringConvertible {
    /// The query as it was written.
    public let json: JSONValue
    let root: QueryNode
    /// The UTF-8 bytes of the top-level fields the query reads (each once): a document matches
    /// exactly when the object of just these fields of it matches, so a packed record is matched
    /// after decoding only them (``PackedRecord``).
    let topLevelFields: [[UInt8]]

    /// Parses a query.
    /// - Parameters:
    ///   - json: The query object. `[:]` matches every document.
    ///   - limits: Limits on the query's size.
    /// - Throws: `.invalidQuery` for a malformed query; `.limitExceeded` past `limits`.
    public init(_ json: JSONValue, limits: QueryLimits = .default) throws {
        var parser = QueryParser(limits: limits)
        self.root = try parser.parseDocumentQuery(json, depth: 0)
        self.json = json
        self.topLevelFields = Self.topLevelFields(of: root)
    }

    private static func topLevelFields(of root: QueryNode) -> [[UInt8]] {
        var seen = Set<[UInt8]>()
        var fields: [[UInt8]] = []
        func visit(_ node: QueryNode) {
            switch node {
            case .and(let nodes), .or(let nodes), .nor(let nodes):
                nodes.forEach(visit)
            case .field(let path, _):
                let name = Array((path.components.first ?? "").utf8)
                if seen.insert(name).inserted { fields.append(name) }
            }
        }
        visit(root)
        return fields
    }

    /// A query that matches every document.
    public static let all: Query = {
        do { return try Query([:]) } catch { preconditionFailure("The empty query must parse: \(error)") }
    }()

    /// Whether `document` matches.
    public func matches(_ document: JSONValue) -> Bool {
        root.matches(document)
    }

    public var description: String { json.jsonString() }

    public static func == (lhs: Query, rhs: Query) -> Bool { lhs.json == rhs.json }
    public func hash(into hasher: inout Hasher) { hasher.combine(json) }
}

/// Limits that keep a hostile query from costing unbounded time or memory.
public struct QueryLimits: Sendable, Hashable {
    /// How deeply `$and`/`$or`/`$nor`/`$not` may nest.
    public var maxDepth: Int
    /// How many elements an `$in`, `$nin` or `$all` list may have.
    public var maxListSize: Int
    /// How long a `$regex` pattern or a `keys` pattern may be, in characters.
    public var maxPatternLength: Int
    /// How many conditions a query may have in all.
    public var maxConditions: Int
    /// How large a compiled regex may be, in automaton instructions (after expanding `{m,n}`).
    /// Matching costs at most about twice this many steps per input character; the default, 500, keeps
    /// the worst pattern it admits to tens of milliseconds on a 10,000-character value.
    public var maxRegexProgramSize: Int

    /// Creates limits.
    public init(
        maxDepth: Int = 32, maxListSize: Int = 10_000, maxPatternLength: Int = 4096, maxConditions: Int = 1000,
        maxRegexProgramSize: Int = 500
    ) {
        self.maxDepth = maxDepth
        self.maxListSize = maxListSize
        self.maxPatternLength = maxPatternLength
        self.maxConditions = maxConditions
        self.maxRegexProgramSize = maxRegexProgramSize
    }

    /// The defaults: depth 32, lists of 10,000, patterns of 4,096 characters, 1,000 conditions,
    /// regex programs of 2,000 instructions.
    public static let `default` = QueryLimits()
}

/// A node of the parsed query.
indirect enum QueryNode: Sendable, Hashable {
    case and([QueryNode])
    case or([QueryNode])
    case nor([QueryNode])
    case field(FieldPath, [FieldPredicate])
}

/// A dotted path, split once at parse time.
struct FieldPath: Sendable, Hashable {
    let components: [String]
    let text: String

    init(_ text: String) {
        self.text = text
        self.components = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }
}

/// A condition on the values at one path.
indirect enum FieldPredicate: Sendable, Hashable {
    case equals(JSONValue)
    case notEquals(JSONValue)
    case compare(Comparison, JSONValue)
    case oneOf(Set<JSONValue>)
    case noneOf(Set<JSONValue>)
    case containsAll([JSONValue])
    case exists(Bool)
    case not([FieldPredicate])
    case matches(TextPattern)
    case startsWith(String)

    enum Comparison: Sendable, Hashable {
        case greaterThan, greaterThanOrEqual, lessThan, lessThanOrEqual
    }
}

struct QueryParser {
    let limits: QueryLimits
    var conditions = 0

    init(limits: QueryLimits) {
        self.limits = limits
    }

    static let operatorNames = "$eq $ne $gt $gte $lt $lte $in $nin $all $exists $not $regex $options $sw"

    mutating func parseDocumentQuery(_ json: JSONValue, depth: Int) throws -> QueryNode {
        guard depth <= limits.maxDepth else {
            throw EventbaseError(.limitExceeded, "The query nests deeper than \(limits.maxDepth) levels; flatten it.")
        }
        guard case .object(let object) = json else {
            throw EventbaseError(.invalidQuery, "A query must be a JSON object, found \(json.typeName).")
        }
        var nodes: [QueryNode] = []
        nodes.reserveCapacity(object.count)
        for (name, value) in object {
            switch name {
            case "$and", "$or", "$nor":
                guard case .array(let items) = value, !items.isEmpty else {
                    throw EventbaseError(.invalidQuery, "\(name) takes a non-empty array of queries.")
                }
                let children = try items.map { try parseDocumentQuery($0, depth: depth + 1) }
                nodes.append(name == "$and" ? .and(children) : name == "$or" ? .or(children) : .nor(children))
            case _ where name.hasPrefix("$"):
                throw EventbaseError(
                    .invalidQuery,
                    "Unknown top-level operator \(name); use $and, $or or $nor, or a field name.")
            default:
                nodes.append(.field(FieldPath(name), try parseFieldCondition(value, field: name, depth: depth)))
            }
        }
        return nodes.count == 1 ? nodes[0] : .and(nodes)
    }

    mutating func countCondition() throws {
        conditions += 1
        guard conditions <= limits.maxConditions else {
            throw EventbaseError(
                .limitExceeded, "The query has more than \(limits.maxConditions) conditions; split it.")
        }
    }

    /// Parses the value of a field: an operator object, or a value for implicit equality.
    mutating func parseFieldCondition(_ value: JSONValue, field: String, depth: Int) throws -> [FieldPredicate] {
        try countCondition()
        guard case .object(let object) = value, let first = object.keys.first, first.hasPrefix("$") else {
            return [.equals(value)]
        }
        if let plain = object.keys.first(where: { !$0.hasPrefix("$") }) {
            throw EventbaseError(
                .invalidQuery,
                "The condition on \"\(field)\" mixes operators with the plain key \"\(plain)\"; use only operators, or only a value to compare with."
            )
        }
        return try parseOperators(object, field: field, depth: depth)
    }

    mutating func parseOperators(_ object: JSONObject, field: String, depth: Int) throws -> [FieldPredicate] {
        guard depth <= limits.maxDepth else {
            throw EventbaseError(.limitExceeded, "The query nests deeper than \(limits.maxDepth) levels; flatten it.")
        }
        var predicates: [FieldPredicate] = []
        let regexOptions = object["$options"]
        if regexOptions != nil, object["$regex"] == nil {
            throw EventbaseError(.invalidQuery, "$options on \"\(field)\" needs a $regex beside it.")
        }
        for (name, operand) in object {
            switch name {
            case "$eq":
                predicates.append(.equals(operand))
            case "$ne":
                predicates.append(.notEquals(operand))
            case "$gt", "$gte", "$lt", "$lte":
                switch operand {
                case .number, .string: break
                default:
                    throw EventbaseError(
                        .invalidQuery, "\(name) on \"\(field)\" takes a number or a string, found \(operand.typeName).")
                }
                let comparison: FieldPredicate.Comparison =
                    switch name {
                    case "$gt": .greaterThan
                    case "$gte": .greaterThanOrEqual
                    case "$lt": .lessThan
                    default: .lessThanOrEqual
                    }
                predicates.append(.compare(comparison, operand))
            case "$in", "$nin", "$all":
                guard case .array(let items) = operand else {
                    throw EventbaseError(
                        .invalidQuery, "\(name) on \"\(field)\" takes an array, found \(operand.typeName).")
                }
                guard items.count <= limits.maxListSize else {
                    throw EventbaseError(
                        .limitExceeded,
                        "\(name) on \"\(field)\" lists \(items.count) values, more than \(limits.maxListSize).")
                }
                switch name {
                case "$in": predicates.append(.oneOf(Set(items)))
                case "$nin": predicates.append(.noneOf(Set(items)))
                default: predicates.append(.containsAll(items))
                }
            case "$exists":
                guard case .bool(let flag) = operand else {
                    throw EventbaseError(
                        .invalidQuery, "$exists on \"\(field)\" takes true or false, found \(operand.typeName).")
                }
                predicates.append(.exists(flag))
            case "$not":
                guard case .object(let inner) = operand, !inner.isEmpty, inner.keys.allSatisfy({ $0.hasPrefix("$") })
                else {
                    throw EventbaseError(
                        .invalidQuery, "$not on \"\(field)\" takes an object of operators, such as {\"$gt\": 5}.")
                }
                predicates.append(.not(try parseOperators(inner, field: field, depth: depth + 1)))
            case "$regex":
                guard case .string(let source) = operand else {
                    throw EventbaseError(
                        .invalidQuery, "$regex on \"\(field)\" takes a string, found \(operand.typeName).")
                }
                var flags = ""
                if let regexOptions {
                    guard case .string(let text) = regexOptions else {
                        throw EventbaseError(
                            .invalidQuery, "$options on \"\(field)\" takes a string of flags, such as \"i\".")
                    }
                    flags = text
                }
                predicates.append(.matches(try makePattern(source, flags: flags)))
            case "$options":
                continue
            case "$sw":
                guard case .string(let prefix) = operand else {
                    throw EventbaseError(
                        .invalidQuery, "$sw on \"\(field)\" takes a string, found \(operand.typeName).")
                }
                predicates.append(.startsWith(prefix))
            default:
                throw EventbaseError(
                    .invalidQuery, "Unknown operator \(name) on \"\(field)\"; supported: \(Self.operatorNames).")
            }
        }
        return predicates
    }

    func makePattern(_ source: String, flags: String) throws -> TextPattern {
        try TextPattern(source, flags: flags, limits: limits)
    }
}
