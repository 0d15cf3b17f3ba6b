extension JSONValue {
    /// Whether arrays and objects nest deeper than `limit`, as ``JSONLimits/maxDepth`` counts depth (a
    /// scalar is 0, `[]` and `{}` are 1), found without allocating and without looking further than
    /// `limit + 1` levels down (so an arbitrarily deep value costs neither stack nor time).
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
