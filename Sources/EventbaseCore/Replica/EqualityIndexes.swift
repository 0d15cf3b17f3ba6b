/// Hash indexes from field values to records, so equality queries (`{"city": "Oslo"}`,
/// `{"status": {"$in": [...]}}`) visit only the records that can match instead of the whole replica.
///
/// The replica builds an index the first time a query could use it (up to
/// ``EventbaseOptions/maxAutomaticIndexes`` fields) and keeps every index up to date as it applies
/// events, under its lock, so an index is always consistent with the store. An index holds each
/// record as the store does (the same ``PackedRecord`` instance, for a store that keeps them packed),
/// so a query reads its candidates from the index without looking each one up in the store.
struct EqualityIndexes {
    struct FieldIndex {
        let path: FieldPath
        /// Per value, the records found under it, by key.
        var buckets: [JSONValue: [ExactKey: StoredRecord]] = [:]

        mutating func remove(_ key: ExactKey, values: Set<JSONValue>) {
            for value in values {
                guard let bucket = buckets.index(forKey: value) else { continue }
                buckets.values[bucket].removeValue(forKey: key)
                if buckets.values[bucket].isEmpty { buckets.remove(at: bucket) }
            }
        }

        mutating func insert(_ key: ExactKey, values: Set<JSONValue>, record: StoredRecord) {
            for value in values {
                buckets[value, default: [:]][key] = record
            }
        }

        /// Moves `key` from the buckets of its old document's values to those of its new one's.
        mutating func update(_ key: ExactKey, old: JSONValue?, new: JSONValue?, record: StoredRecord?) {
            let oldValues = old.map { EqualityIndexes.indexValues(at: path, in: $0) } ?? []
            guard let new, let record else {
                remove(key, values: oldValues)
                return
            }
            let newValues = EqualityIndexes.indexValues(at: path, in: new)
            remove(key, values: oldValues.subtracting(newValues))
            insert(key, values: newValues, record: record)
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
    /// - Parameters:
    ///   - old: The record `key` had, if any.
    ///   - new: The record it has now, if any.
    ///   - stored: `new` as the store keeps it (``StoredRecord/packed(_:)`` for a store that keeps
    ///     records packed); `nil` when `new` is.
    mutating func update(key: String, old: Record<JSONValue>?, new: Record<JSONValue>?, stored: StoredRecord?) {
        guard !indexes.isEmpty else { return }
        let key = ExactKey(key)
        for path in indexes.keys {
            indexes[path]!.update(key, old: old?.data, new: new?.data, record: stored)
        }
    }

    /// Builds an index of `path` over every record of `store`, decoding of each packed record only
    /// the top-level field the path starts with.
    mutating func build(_ path: FieldPath, from store: any StateStore) {
        var index = FieldIndex(path: path)
        let field = [Array(path.components[0].utf8)]
        store.forEachStoredRecord { key, record in
            index.insert(
                ExactKey(key), values: Self.indexValues(at: path, in: record.data(keeping: field)), record: record)
        }
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

    /// The records that may match `values` at `path` (each once), if the path is indexed.
    func candidates(path: FieldPath, values: [JSONValue]) -> [(key: String, record: StoredRecord)]? {
        guard let index = indexes[path.text] else { return nil }
        if values.count == 1 {
            return index.buckets[values[0]].map { bucket in bucket.map { ($0.key.string, $0.value) } } ?? []
        }
        var union: [ExactKey: StoredRecord] = [:]
        for value in values {
            if let bucket = index.buckets[value] { union.merge(bucket) { first, _ in first } }
        }
        return union.map { ($0.key.string, $0.value) }
    }
}
