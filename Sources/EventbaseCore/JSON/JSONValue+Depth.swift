extension JSONValue {
    /// How deeply arrays and objects nest, as ``JSONLimits/maxDepth`` counts it: a scalar is 0, `[]`
    /// and `{}` are 1. Computed with an explicit stack, so any depth costs heap, not call stack.
    package var nestingDepth: Int {
        var deepest = 0
        var pending: [(value: JSONValue, depth: Int)] = [(self, 0)]
        while let (value, depth) = pending.popLast() {
            switch value {
            case .array(let elements):
                deepest = max(deepest, depth + 1)
                for element in elements { pending.append((element, depth + 1)) }
            case .object(let object):
                deepest = max(deepest, depth + 1)
                for (_, member) in object { pending.append((member, depth + 1)) }
            default:
                break
            }
        }
        return deepest
    }

    /// Whether arrays and objects nest deeper than `limit` (the same measure as ``nestingDepth``),
    /// found without allocating and without looking further than `limit + 1` levels down.
    package func nests(deeperThan limit: Int) -> Bool {
        switch self {
        case .array(let elements):
            guard limit > 0 else { return true }
            return elements.contains { $0.nests(deeperThan: limit - 1) }
        case .object(let object):
            guard limit > 0 else { return true }
            return object.contains { $0.value.nests(deeperThan: limit - 1) }
        default:
            return false
        }
    }
}
