/// Hash indexes from field values to keys, so equality queries (`{"city": "Oslo"}`,
/// `{"status": {"$in": [...]}}`) visit only the records that can match instead of the whole replica.
///
/// The replica builds an index the first time a query could use it (up to
/// ``EventbaseOptions/maxAutomaticIndexes`` fields) and keeps every index up to date as it applies
/// events, under its lock, so an index is always consistent with the store. An index holds keys only:
/// the replica reads the candidates' records from the store (under the same lock).
struct EqualityIndexes {
    struct FieldIndex {
        let path: FieldPath
        var buckets: [JSONValue: Set<ExactKey>] = [:]

        /// The values a record is found under: each value at the path, and each element of an array value.
        func values(of record: Record<JSONValue>) -> Set<JSONValue> {
            EqualityIndexes.indexValues(at: path, in: record.data)
        }

        mutating func remove(_ key: String, _ record: Record<JSONValue>) {
            for value in values(of: record) {
                buckets[value]?.remove(ExactKey(key))
                if buckets[value]?.isEmpty == true { buckets[value] = nil }
            }
        }

        mutating func insert(_ key: String, _ record: Record<JSONValue>) {
            for value in values(of: record) {
                buckets[value, default: []].insert(ExactKey(key))
            }
        }
    }

    private(set) var indexes: [String: FieldIndex] = [:]

    /// Calls `body` with each value a document is found under at `path` (as ``indexValues(at:in:)``,
    /// but without collecting them: a value may come more than once).
    static func forEachIndexValue(at path: FieldPath, in document: JSONValue, _ body: (JSONValue) -> Void) {
        func visit(_ value: JSONValue) {
            body(value)
            if case .array(let elements) = value {
                for element in elements { body(element) }
            }
        }
        switch path.resolve(in: document) {
        case .missing: break
        case .one(let value): visit(value)
        case .many(let found): found.forEach(visit)
        }
    }

    /// The values a document is found under at `path`: each value there, and each element of an array value.
    static func indexValues(at path: FieldPath, in document: JSONValue) -> Set<JSONValue> {
        var values = Set<JSONValue>()
        forEachIndexValue(at: path, in: document) { values.insert($0) }
        return values
    }

    var count: Int { indexes.count }

    var fieldNames: [String] { indexes.keys.sorted() }

    /// Keeps every index in step with a change to `key`.
    mutating func update(key: String, old: Record<JSONValue>?, new: Record<JSONValue>?) {
        guard !indexes.isEmpty else { return }
        for path in indexes.keys {
            if let old { indexes[path]!.remove(key, old) }
            if let new { indexes[path]!.insert(key, new) }
        }
    }

    /// Builds an index of `path` over every record of `store`.
    mutating func build(_ path: FieldPath, from store: any StateStore) {
        var index = FieldIndex(path: path)
        store.forEachRecord { key, record in index.insert(key, record) }
        indexes[path.text] = index
    }

    /// Drops every index (the store was reset).
    mutating func removeAll() {
        indexes.removeAll()
    }

    /// An equality condition of `node` that an index can answer: a path and the values a matching
    /// record must be found under (one of them). `nil` when the query has none.
    static func indexableCondition(of node: QueryNode) -> (path: FieldPath, values: [JSONValue])? {
        switch node {
        case .field(let path, let predicates):
            for predicate in predicates {
                switch predicate {
                case .equals(let value) where !value.isNull:
                    return (path, [value])
                case .oneOf(let set) where !set.contains(.null) && set.count <= 64:
                    return (path, Array(set))
                default:
                    continue
                }
            }
            return nil
        case .and(let nodes):
            for child in nodes {
                if let condition = indexableCondition(of: child) { return condition }
            }
            return nil
        case .or, .nor:
            return nil
        }
    }

    /// The keys of the records that may match `values` at `path`, if the path is indexed.
    func candidates(path: FieldPath, values: [JSONValue]) -> Set<ExactKey>? {
        guard let index = indexes[path.text] else { return nil }
        if values.count == 1 { return index.buckets[values[0]] ?? [] }
        var union = Set<ExactKey>()
        for value in values {
            union.formUnion(index.buckets[value] ?? [])
        }
        return union
    }
}
