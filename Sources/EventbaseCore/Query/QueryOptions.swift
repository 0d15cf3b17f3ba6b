/// How to sort, page and shape query results.
///
/// ```swift
/// let options = QueryOptions(sort: ["age": .descending, "name": .ascending], limit: 10, offset: 20, project: ["name", "age"])
/// ```
public struct QueryOptions: Sendable, Hashable {
    /// Sort keys in priority order.
    public var sort: SortSpecification
    /// At most this many results (after `offset`).
    public var limit: Int?
    /// Skip this many results first.
    public var offset: Int
    /// Keep only these fields (dotted paths allowed) in each result; `nil` keeps the whole document.
    public var project: [String]?

    /// Creates options.
    /// - Parameters:
    ///   - sort: Sort keys, in the order written; ties keep key order (results are always fully ordered when sorting, limiting or paging).
    ///   - limit: The most results to return; `nil` for all.
    ///   - offset: How many results to skip.
    ///   - project: The fields to keep, or `nil` for whole documents.
    public init(sort: SortSpecification = [], limit: Int? = nil, offset: Int = 0, project: [String]? = nil) {
        self.sort = sort
        self.limit = limit
        self.offset = offset
        self.project = project
    }

    func validate() throws {
        if let limit, limit < 0 {
            throw EventbaseError(.invalidArgument, "QueryOptions.limit must not be negative (it is \(limit)).")
        }
        guard offset >= 0 else {
            throw EventbaseError(.invalidArgument, "QueryOptions.offset must not be negative (it is \(offset)).")
        }
        for path in sort.keys.map(\.path) + (project ?? []) where path.isEmpty {
            throw EventbaseError(.invalidArgument, "A sort or project path must not be empty.")
        }
    }

    /// Whether results must be put in a defined order.
    var needsOrder: Bool { !sort.keys.isEmpty || limit != nil || offset > 0 }
}

/// Sort keys in priority order. Written as an ordered dictionary literal: `["age": .descending, "name": .ascending]`
/// (or with `1` / `-1` as in MongoDB).
public struct SortSpecification: Sendable, Hashable, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral {
    /// The keys, most significant first.
    public var keys: [SortKey]

    /// Creates a specification from keys, most significant first.
    public init(_ keys: [SortKey]) {
        self.keys = keys
    }

    public init(dictionaryLiteral elements: (String, SortDirection)...) {
        self.keys = elements.map { SortKey(path: $0.0, direction: $0.1) }
    }

    public init(arrayLiteral elements: SortKey...) {
        self.keys = elements
    }
}

/// One sort key: a (dotted) field path and a direction.
public struct SortKey: Sendable, Hashable {
    /// The field path.
    public var path: String
    /// The direction.
    public var direction: SortDirection

    /// Creates a sort key.
    public init(path: String, direction: SortDirection) {
        self.path = path
        self.direction = direction
    }
}

/// A sort direction. Missing fields sort first when ascending.
public enum SortDirection: Sendable, Hashable, ExpressibleByIntegerLiteral {
    /// Smallest first: missing, null, numbers, strings, objects, arrays, booleans.
    case ascending
    /// Largest first.
    case descending

    /// `1` is ascending, `-1` (any negative number) is descending, as in MongoDB.
    public init(integerLiteral value: Int) {
        self = value < 0 ? .descending : .ascending
    }
}

/// Runs a parsed query with options over a replica's records.
struct QueryRunner {
    let query: Query
    let options: QueryOptions

    /// Matching records, ordered and paged by the options (projection is applied by the caller).
    func run(over store: any StateStore) throws -> [(key: String, record: Record<JSONValue>)] {
        var matches: [(key: String, record: Record<JSONValue>)] = []
        var visited = 0
        try store.forEachRecord { key, record in
            visited &+= 1
            if visited & 1023 == 0, Task.isCancelled { throw CancellationError() }
            if query.matches(record.data) { matches.append((key, record)) }
        }
        guard options.needsOrder else { return matches }
        let sortPaths = options.sort.keys.map { (FieldPath($0.path), $0.direction) }
        let keyed = matches.map { match in
            (
                match,
                sortPaths.map { path, _ -> JSONValue? in
                    switch path.resolve(in: match.record.data) {
                    case .missing: nil
                    case .one(let value): value
                    case .many(let values): values.first
                    }
                }
            )
        }
        let sorted = keyed.sorted { lhs, rhs in
            for (index, (_, direction)) in sortPaths.enumerated() {
                let order = JSONOrdering.compareForSort(lhs.1[index], rhs.1[index])
                if order != 0 { return direction == .ascending ? order < 0 : order > 0 }
            }
            return lhs.0.key.utf8.lexicographicallyPrecedes(rhs.0.key.utf8)
        }
        let start = min(options.offset, sorted.count)
        let end = options.limit.map { min(sorted.count, start + $0) } ?? sorted.count
        return sorted[start..<end].map(\.0)
    }

    /// Keeps only the projected paths of `document`.
    static func project(_ document: JSONValue, paths: [String]?) -> JSONValue {
        guard let paths else { return document }
        var result = JSONObject()
        for text in paths {
            let path = FieldPath(text)
            guard case .one(let value) = path.resolve(in: document) else { continue }
            set(value, at: path.components[...], in: &result)
        }
        return .object(result)
    }

    private static func set(_ value: JSONValue, at path: ArraySlice<String>, in object: inout JSONObject) {
        guard let first = path.first else { return }
        if path.count == 1 {
            object[first] = value
            return
        }
        var child = object[first]?.objectValue ?? JSONObject()
        set(value, at: path.dropFirst(), in: &child)
        object[first] = .object(child)
    }
}
