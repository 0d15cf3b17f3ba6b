/// A JSON object: string keys to ``JSONValue``s.
///
/// Keys keep the order in which they were first inserted, so documents encode the way they were
/// written (as `JSON.stringify` does). Equality and hashing ignore the order, as JSON does.
/// Setting an existing key replaces its value in place; a duplicate key in a literal or in parsed
/// JSON keeps the last value, as `JSON.parse` does.
public struct JSONObject: Sendable {
    @usableFromInline
    internal var entries: [(key: String, value: JSONValue)]
    /// Built once an object grows past `indexThreshold` keys, so lookups stay O(1) in large objects.
    @usableFromInline
    internal var index: [String: Int]?

    @usableFromInline
    internal static var indexThreshold: Int { 12 }

    /// Creates an empty object.
    public init() {
        entries = []
        index = nil
    }

    /// Creates an object from key-value pairs; a later duplicate key replaces the earlier value.
    public init<S: Sequence>(_ pairs: S) where S.Element == (String, JSONValue) {
        self.init()
        entries.reserveCapacity(pairs.underestimatedCount)
        for (key, value) in pairs {
            self[key] = value
        }
    }

    /// Creates an object from a dictionary, with keys in sorted order.
    public init(_ dictionary: [String: JSONValue]) {
        self.init(dictionary.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// An object of `uniqueEntries`, whose keys are known to be distinct (no duplicate check).
    internal init(uniqueEntries: [(key: String, value: JSONValue)]) {
        entries = uniqueEntries
        index = nil
        if entries.count > Self.indexThreshold { buildIndex() }
    }

    /// The number of keys.
    public var count: Int { entries.count }

    /// Whether the object has no keys.
    public var isEmpty: Bool { entries.isEmpty }

    /// The keys, in insertion order.
    public var keys: [String] { entries.map(\.key) }

    /// The values, in key insertion order.
    public var values: [JSONValue] { entries.map(\.value) }

    @inlinable
    internal func position(of key: String) -> Int? {
        if let index { return index[key] }
        for i in entries.indices where entries[i].key == key {
            return i
        }
        return nil
    }

    /// The value for `key`, or `nil` when absent. Setting `nil` removes the key.
    public subscript(key: String) -> JSONValue? {
        @inlinable get {
            guard let position = position(of: key) else { return nil }
            return entries[position].value
        }
        set {
            if let position = position(of: key) {
                if let newValue {
                    entries[position].value = newValue
                } else {
                    removeEntry(at: position)
                }
            } else if let newValue {
                entries.append((key, newValue))
                if index != nil {
                    index![key] = entries.count - 1
                } else if entries.count > Self.indexThreshold {
                    buildIndex()
                }
            }
        }
    }

    /// Removes `key` and returns its value, if present.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let position = position(of: key) else { return nil }
        let value = entries[position].value
        removeEntry(at: position)
        return value
    }

    private mutating func removeEntry(at position: Int) {
        entries.remove(at: position)
        if entries.count > Self.indexThreshold {
            buildIndex()
        } else {
            index = nil
        }
    }

    private mutating func buildIndex() {
        var built = [String: Int](minimumCapacity: entries.count)
        for (offset, entry) in entries.enumerated() {
            built[entry.key] = offset
        }
        index = built
    }

    /// The key-value pairs as a dictionary (order is lost).
    public var dictionary: [String: JSONValue] {
        Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

extension JSONObject: Sequence {
    /// Iterates key-value pairs in insertion order.
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        entries.makeIterator()
    }

    public var underestimatedCount: Int { entries.count }
}

extension JSONObject: Equatable {
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for (key, value) in lhs.entries {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }
}

extension JSONObject: Hashable {
    public func hash(into hasher: inout Hasher) {
        // Order-independent: combine the per-entry hashes commutatively.
        var sum = 0
        for (key, value) in entries {
            var entryHasher = Hasher()
            entryHasher.combine(key)
            entryHasher.combine(value)
            sum = sum &+ entryHasher.finalize()
        }
        hasher.combine(entries.count)
        hasher.combine(sum)
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}
