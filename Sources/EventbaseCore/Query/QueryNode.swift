/// The values found at a path in a document.
enum Resolution {
    case missing
    case one(JSONValue)
    case many([JSONValue])

    var isMissing: Bool {
        if case .missing = self { return true }
        return false
    }

    /// Calls `body` with each value and, for array values, each element; stops at the first `true`.
    @inline(__always)
    func anyExpanded(_ body: (JSONValue) -> Bool) -> Bool {
        switch self {
        case .missing:
            return false
        case .one(let value):
            return Self.expanded(value, body)
        case .many(let values):
            for value in values where Self.expanded(value, body) {
                return true
            }
            return false
        }
    }

    @inline(__always)
    private static func expanded(_ value: JSONValue, _ body: (JSONValue) -> Bool) -> Bool {
        if body(value) { return true }
        if case .array(let elements) = value {
            for element in elements where body(element) {
                return true
            }
        }
        return false
    }
}

extension FieldPath {
    /// Resolves the path in `document`, reaching through arrays of objects as MongoDB does.
    func resolve(in document: JSONValue) -> Resolution {
        var current = document
        var index = 0
        while index < components.count {
            let component = components[index]
            switch current {
            case .object(let object):
                guard let next = object[component] else { return .missing }
                current = next
                index += 1
            case .array:
                var found: [JSONValue] = []
                Self.collect(components[index...], in: current, into: &found)
                return found.isEmpty ? .missing : found.count == 1 ? .one(found[0]) : .many(found)
            default:
                return .missing
            }
        }
        return .one(current)
    }

    private static func collect(_ path: ArraySlice<String>, in value: JSONValue, into found: inout [JSONValue]) {
        guard let component = path.first else {
            found.append(value)
            return
        }
        switch value {
        case .object(let object):
            if let next = object[component] {
                collect(path.dropFirst(), in: next, into: &found)
            }
        case .array(let elements):
            if let position = Int(component), position >= 0 {
                if position < elements.count {
                    collect(path.dropFirst(), in: elements[position], into: &found)
                }
            } else {
                for element in elements {
                    if case .object = element {
                        collect(path, in: element, into: &found)
                    }
                }
            }
        default:
            break
        }
    }
}

extension QueryNode {
    func matches(_ document: JSONValue) -> Bool {
        switch self {
        case .and(let nodes):
            for node in nodes where !node.matches(document) {
                return false
            }
            return true
        case .or(let nodes):
            for node in nodes where node.matches(document) {
                return true
            }
            return false
        case .nor(let nodes):
            for node in nodes where node.matches(document) {
                return false
            }
            return true
        case .field(let path, let predicates):
            let resolution = path.resolve(in: document)
            for predicate in predicates where !predicate.matches(resolution) {
                return false
            }
            return true
        }
    }
}

extension FieldPredicate {
    func matches(_ resolution: Resolution) -> Bool {
        switch self {
        case .equals(let operand):
            return Self.equals(resolution, operand)
        case .notEquals(let operand):
            return !Self.equals(resolution, operand)
        case .compare(let comparison, let operand):
            return resolution.anyExpanded { value in
                guard let order = JSONOrdering.compareSameType(value, operand) else { return false }
                switch comparison {
                case .greaterThan: return order > 0
                case .greaterThanOrEqual: return order >= 0
                case .lessThan: return order < 0
                case .lessThanOrEqual: return order <= 0
                }
            }
        case .oneOf(let set):
            return Self.isIn(resolution, set)
        case .noneOf(let set):
            return !Self.isIn(resolution, set)
        case .containsAll(let items):
            guard !items.isEmpty else { return false }
            for item in items where !Self.equals(resolution, item) {
                return false
            }
            return true
        case .exists(let flag):
            return resolution.isMissing != flag
        case .not(let predicates):
            for predicate in predicates where !predicate.matches(resolution) {
                return true
            }
            return false
        case .matches(let pattern):
            return resolution.anyExpanded { value in
                guard case .string(let text) = value else { return false }
                return pattern.matches(text)
            }
        case .startsWith(let prefix):
            return resolution.anyExpanded { value in
                guard case .string(let text) = value else { return false }
                return text.hasPrefix(prefix)
            }
        }
    }

    @inline(__always)
    private static func equals(_ resolution: Resolution, _ operand: JSONValue) -> Bool {
        if resolution.isMissing { return operand.isNull }
        return resolution.anyExpanded { $0 == operand }
    }

    @inline(__always)
    private static func isIn(_ resolution: Resolution, _ set: Set<JSONValue>) -> Bool {
        if resolution.isMissing { return set.contains(.null) }
        return resolution.anyExpanded { set.contains($0) }
    }
}

/// How JSON values compare, for `$gt`-style operators and for sorting.
package enum JSONOrdering {
    /// Compares two values of the same type (numbers, or strings by UTF-16 code units);
    /// `nil` when the types differ or are not ordered.
    @inline(__always)
    package static func compareSameType(_ lhs: JSONValue, _ rhs: JSONValue) -> Int? {
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)):
            return a < b ? -1 : a > b ? 1 : 0
        case (.string(let a), .string(let b)):
            return compareStrings(a, b)
        default:
            return nil
        }
    }

    /// Compares strings as JavaScript does: by UTF-16 code units.
    package static func compareStrings(_ a: String, _ b: String) -> Int {
        if a == b { return 0 }
        var left = a.utf16.makeIterator()
        var right = b.utf16.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?):
                if x != y { return x < y ? -1 : 1 }
            }
        }
    }

    /// The rank of a value's type in sort order: missing, null, numbers, strings, objects, arrays, booleans.
    static func rank(_ value: JSONValue?) -> Int {
        switch value {
        case nil: 0
        case .null?: 1
        case .number?: 2
        case .string?: 3
        case .object?: 4
        case .array?: 5
        case .bool?: 6
        }
    }

    /// A total order over values (and missing values) for sorting.
    static func compareForSort(_ lhs: JSONValue?, _ rhs: JSONValue?) -> Int {
        let (l, r) = (rank(lhs), rank(rhs))
        if l != r { return l < r ? -1 : 1 }
        guard let lhs, let rhs else { return 0 }
        if let order = compareSameType(lhs, rhs) { return order }
        if case .bool(let a) = lhs, case .bool(let b) = rhs { return a == b ? 0 : (a ? 1 : -1) }
        if lhs == rhs { return 0 }
        return compareStrings(lhs.jsonString(sortedKeys: true), rhs.jsonString(sortedKeys: true))
    }
}
