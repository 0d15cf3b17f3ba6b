/// A set of Unicode scalar values, stored as sorted, disjoint, non-adjacent closed ranges plus an
/// ASCII bitmap for fast membership tests.
struct ScalarSet: Sendable, Hashable {
    /// The sorted, disjoint, non-adjacent ranges.
    private(set) var ranges: [ClosedRange<UInt32>]
    private var asciiLow: UInt64 = 0
    private var asciiHigh: UInt64 = 0

    /// The largest Unicode scalar value.
    static let maxScalar: UInt32 = 0x10_FFFF

    /// Creates a set from arbitrary (possibly overlapping, unsorted) ranges.
    init(_ input: [ClosedRange<UInt32>]) {
        let sorted = input.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        merged.reserveCapacity(sorted.count)
        for range in sorted {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        ranges = merged
        for range in merged where range.lowerBound < 128 {
            for value in range.lowerBound...min(range.upperBound, 127) {
                if value < 64 {
                    asciiLow |= 1 << UInt64(value)
                } else {
                    asciiHigh |= 1 << UInt64(value - 64)
                }
            }
        }
    }

    /// Creates a set holding the given scalar values.
    init(scalars: [UInt32]) {
        self.init(scalars.map { $0...$0 })
    }

    /// Whether `value` is in the set.
    @inline(__always)
    func contains(_ value: UInt32) -> Bool {
        if value < 64 { return asciiLow & (1 << UInt64(value)) != 0 }
        if value < 128 { return asciiHigh & (1 << UInt64(value - 64)) != 0 }
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            let range = ranges[mid]
            if value < range.lowerBound {
                high = mid
            } else if value > range.upperBound {
                low = mid + 1
            } else {
                return true
            }
        }
        return false
    }

    /// The set of all scalars not in this set.
    func inverted() -> ScalarSet {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = range.upperBound &+ 1
        }
        if next <= Self.maxScalar && !(ranges.last?.upperBound == Self.maxScalar) {
            result.append(next...Self.maxScalar)
        }
        return ScalarSet(result)
    }

    /// The union of two sets.
    func union(_ other: ScalarSet) -> ScalarSet {
        ScalarSet(ranges + other.ranges)
    }

    /// The only member, when the set has exactly one.
    var singleScalar: UInt32? {
        guard ranges.count == 1, ranges[0].lowerBound == ranges[0].upperBound else { return nil }
        return ranges[0].lowerBound
    }

    /// This set closed under JavaScript (non-unicode mode) case-insensitive equivalence: a scalar is
    /// added when it canonicalizes to the same value as some member.
    func caseClosed() -> ScalarSet {
        // Visit only the folding scalars inside this set's ranges (binary search into the sorted member list).
        let members = CaseFolding.sortedMembers
        var groups: Set<Int> = []
        for range in ranges {
            var low = 0
            var high = members.count
            while low < high {
                let mid = (low + high) / 2
                if members[mid].scalar < range.lowerBound { low = mid + 1 } else { high = mid }
            }
            while low < members.count && members[low].scalar <= range.upperBound {
                groups.insert(members[low].group)
                low += 1
            }
        }
        var extra: [ClosedRange<UInt32>] = []
        for group in groups {
            for value in CaseFolding.equivalenceGroups[group] where !contains(value) { extra.append(value...value) }
        }
        return extra.isEmpty ? self : ScalarSet(ranges + extra)
    }

    /// `\d`: ASCII digits.
    static let digits = ScalarSet([0x30...0x39])
    /// `\w`: ASCII letters, digits and underscore.
    static let word = ScalarSet([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    /// `\s`: JavaScript white space and line terminators.
    static let space = ScalarSet([
        0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
        0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF,
    ])
    /// JavaScript line terminators: LF, CR, LS, PS.
    static let lineTerminators = ScalarSet([0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029])
    /// Every scalar.
    static let all = ScalarSet([0...maxScalar])
    /// `.` without the `s` flag.
    static let dot = lineTerminators.inverted()
}

/// JavaScript non-unicode-mode case canonicalization (ECMA-262 `Canonicalize` with `ignoreCase`, no `u`):
/// a BMP character maps to its uppercase form when that is a single BMP character and the mapping does not
/// take a non-ASCII character into ASCII.
enum CaseFolding {
    /// Groups (of two or more scalars) that share a canonical value; scalars not listed fold only to themselves.
    static let equivalenceGroups: [[UInt32]] = buildGroups()

    /// For each scalar in some group, the index of its group in ``equivalenceGroups``.
    static let groupIndex: [UInt32: Int] = {
        var index: [UInt32: Int] = [:]
        for (offset, group) in equivalenceGroups.enumerated() {
            for value in group { index[value] = offset }
        }
        return index
    }()

    /// Every scalar that belongs to a group, with its group's index, sorted by scalar.
    static let sortedMembers: [(scalar: UInt32, group: Int)] = groupIndex.map { (scalar: $0.key, group: $0.value) }
        .sorted { $0.scalar < $1.scalar }

    /// The scalars that match `value` case-insensitively (including `value`).
    static func equivalents(of value: UInt32) -> [UInt32] {
        guard let offset = groupIndex[value] else { return [value] }
        return equivalenceGroups[offset]
    }

    private static func canonical(_ value: UInt32) -> UInt32 {
        guard let scalar = Unicode.Scalar(value), scalar.properties.changesWhenUppercased else { return value }
        let upper = scalar.properties.uppercaseMapping.unicodeScalars
        guard upper.count == 1, let mapped = upper.first?.value, mapped <= 0xFFFF else { return value }
        if value >= 128 && mapped < 128 { return value }
        return mapped
    }

    private static func buildGroups() -> [[UInt32]] {
        var byCanonical: [UInt32: [UInt32]] = [:]
        for value in UInt32(0)...0xFFFF where !(0xD800...0xDFFF).contains(value) {
            let canonicalValue = canonical(value)
            if canonicalValue != value { byCanonical[canonicalValue, default: []].append(value) }
        }
        var groups: [[UInt32]] = []
        for (canonicalValue, members) in byCanonical {
            var group = members
            if canonical(canonicalValue) == canonicalValue { group.append(canonicalValue) }
            if group.count > 1 { groups.append(group.sorted()) }
        }
        return groups.sorted { $0[0] < $1[0] }
    }
}
