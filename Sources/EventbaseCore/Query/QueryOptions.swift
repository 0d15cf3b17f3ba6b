import Foundation

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

    /// The matching documents, projected, when the options ask for no order (no sort, limit or
    /// offset): no meta is decoded, and many documents are decoded in parts by child tasks.
    func unorderedDocuments(over store: any StateStore, candidates: [(key: String, record: StoredRecord)]?)
        async throws -> [JSONValue]
    {
        if let candidates, case let parts = Self.parts(for: candidates.count), parts > 1 {
            // Many candidates (an index named them): each part matches and decodes its own range.
            if Task.isCancelled { throw CancellationError() }
            // When the query reads one top-level field, the indexed one, nearly every candidate
            // matches: decode each document once, whole, and match that. Otherwise match on the
            // fields the query reads, and decode only the matches.
            let decodeFirst = query.topLevelFields.count == 1
            let (query, paths) = (self.query, options.project)
            let results = await Self.inParts(parts, of: candidates.count) { _, range in
                var found: [JSONValue] = []
                found.reserveCapacity(range.count)
                for index in range {
                    let record = candidates[index].record
                    if decodeFirst {
                        let document = record.data
                        if query.matches(document) { found.append(Self.project(document, paths: paths)) }
                    } else if record.matches(query) {
                        found.append(Self.project(record.data, paths: paths))
                    }
                }
                return found
            }
            return Array(results.joined())
        }
        var matched: [StoredRecord] = []
        if let candidates { matched.reserveCapacity(candidates.count) }
        try Self.forEachMatch(of: query, in: store, candidates: candidates) { _, record in matched.append(record) }
        return await Self.documents(of: matched, projecting: options.project)
    }

    /// How many parts to decode `count` documents in: from 4,096 documents, parts of at least 2,048,
    /// at most 8 (the cooperative pool runs as many at once as it has threads).
    static func parts(for count: Int) -> Int {
        count >= 4_096 ? min(8, count / 2_048) : 1
    }

    /// Runs `body` in `parts` child tasks, each with its part of `0..<count` (consecutive ranges, in
    /// order of `part`), and returns their results in that order. No thread is started or blocked:
    /// the parts run on the cooperative pool, and the caller suspends until all have.
    static func inParts<Part: Sendable>(
        _ parts: Int, of count: Int, _ body: @escaping @Sendable (_ part: Int, _ range: Range<Int>) -> Part
    ) async -> [Part] {
        await withTaskGroup(of: (Int, Part).self) { group in
            for part in 0..<parts {
                let range = (count * part / parts)..<(count * (part + 1) / parts)
                group.addTask { (part, body(part, range)) }
            }
            var results = [Part?](repeating: nil, count: parts)
            for await (part, result) in group { results[part] = result }
            return results.map { $0! }
        }
    }

    /// Decodes (and projects) `records`, in order; in parts by child tasks when there are many.
    static func documents(of records: [StoredRecord], projecting paths: [String]?) async -> [JSONValue] {
        let count = records.count
        let parts = Self.parts(for: count)
        guard parts > 1 else { return records.map { project($0.data, paths: paths) } }
        let decoded = await inParts(parts, of: count) { _, range in
            range.map { project(records[$0].data, paths: paths) }
        }
        return Array(decoded.joined())
    }

    /// Matching records, ordered and paged by the options (projection is applied by the caller).
    func run(over store: any StateStore, candidates: [(key: String, record: StoredRecord)]? = nil) throws
        -> [(key: String, record: Record<JSONValue>)]
    {
        var matches: [(key: String, record: Record<JSONValue>)] = []
        try Self.forEachMatch(of: query, in: store, candidates: candidates) { key, record in
            matches.append((key, record.record(key: key)))
        }
        guard options.needsOrder else { return matches }
        let sortPaths = options.sort.keys.map { (FieldPath($0.path), $0.direction == .ascending) }
        // Sort values are computed once per match, so comparisons never walk documents again.
        let keyed = matches.map { match in
            SortEntry(
                values: sortPaths.map { path, _ in SortValue(path.resolve(in: match.record.data)) },
                key: match.key, record: match.record)
        }
        let ascending = sortPaths.map(\.1)
        let precedes = { (lhs: SortEntry, rhs: SortEntry) -> Bool in
            for index in ascending.indices {
                let order = lhs.values[index].compare(rhs.values[index])
                if order != 0 { return ascending[index] ? order < 0 : order > 0 }
            }
            return lhs.key.utf8.lexicographicallyPrecedes(rhs.key.utf8)
        }
        let wanted = options.limit.map { options.offset + $0 } ?? keyed.count
        let ordered: [SortEntry]
        if wanted < keyed.count / 8 {
            // Top-k: keep the best `wanted` in a sorted buffer; most entries lose one comparison.
            var best: [SortEntry] = []
            best.reserveCapacity(wanted + 1)
            for entry in keyed {
                if best.count == wanted, let last = best.last, !precedes(entry, last) { continue }
                var low = 0
                var high = best.count
                while low < high {
                    let middle = (low + high) / 2
                    if precedes(best[middle], entry) { low = middle + 1 } else { high = middle }
                }
                best.insert(entry, at: low)
                if best.count > wanted { best.removeLast() }
            }
            ordered = best
        } else {
            ordered = keyed.sorted(by: precedes)
        }
        let start = min(options.offset, ordered.count)
        let end = options.limit.map { min(ordered.count, start + $0) } ?? ordered.count
        return ordered[start..<end].map { ($0.key, $0.record) }
    }

    /// Calls `body` with every record of `candidates` (or, without candidates, of `store`) that
    /// matches `query`. Packed records are decoded only as far as the query reads them.
    /// - Throws: `CancellationError` when the task is cancelled (checked every 1,024 records).
    static func forEachMatch(
        of query: Query, in store: any StateStore, candidates: [(key: String, record: StoredRecord)]?,
        _ body: (_ key: String, _ record: StoredRecord) throws -> Void
    ) throws {
        var visited = 0
        func visit(_ key: String, _ record: StoredRecord) throws {
            visited &+= 1
            if visited & 1023 == 0, Task.isCancelled { throw CancellationError() }
            if record.matches(query) { try body(key, record) }
        }
        if let candidates {
            for (key, record) in candidates { try visit(key, record) }
        } else {
            try store.forEachStoredRecord(visit)
        }
    }

    private struct SortEntry {
        let values: [SortValue]
        let key: String
        let record: Record<JSONValue>
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

/// A value prepared for sorting: missing, null, numbers, strings, objects, arrays, booleans.
enum SortValue {
    case missing
    case null
    case number(Double)
    case string(String)
    case other(rank: Int, value: JSONValue)

    init(_ resolution: Resolution) {
        let value: JSONValue
        switch resolution {
        case .missing:
            self = .missing
            return
        case .one(let found): value = found
        case .many(let found): value = found[0]
        }
        switch value {
        case .null: self = .null
        case .number(let number): self = .number(number)
        case .string(let text): self = .string(text)
        default: self = .other(rank: JSONOrdering.rank(value), value: value)
        }
    }

    private var rank: Int {
        switch self {
        case .missing: 0
        case .null: 1
        case .number: 2
        case .string: 3
        case .other(let rank, _): rank
        }
    }

    func compare(_ other: SortValue) -> Int {
        switch (self, other) {
        case (.number(let a), .number(let b)): return a < b ? -1 : a > b ? 1 : 0
        case (.string(let a), .string(let b)): return JSONOrdering.compareStrings(a, b)
        case (.other(_, let a), .other(_, let b)) where rank == other.rank:
            return JSONOrdering.compareForSort(a, b)
        default:
            let (l, r) = (rank, other.rank)
            return l == r ? 0 : l < r ? -1 : 1
        }
    }
}
