extension RegexProgram {
    /// Runs the program over `input` by simulating all NFA threads in lock step (a Pike VM without
    /// captures). Each instruction enters each position's thread list at most once, so the work is at
    /// most `2 × (input scalars + 1) × instructions.count`; `stepCount` is increased by the steps taken.
    func run(_ input: String, stepCount: inout Int) -> Bool {
        let size = instructions.count
        // Two sparse sets (dense + sparse arrays each) and an explicit stack for the epsilon closure;
        // every visited instruction pushes at most two successors.
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 6 * size + 2) { buffer in
            buffer.initialize(repeating: 0)
            let base = buffer.baseAddress!
            return instructions.withUnsafeBufferPointer { code in
                var machine = PikeMachine(
                    code: code,
                    sets: sets,
                    current: SparseSet(dense: base, sparse: base + size),
                    next: SparseSet(dense: base + 2 * size, sparse: base + 3 * size),
                    stack: base + 4 * size
                )
                return machine.run(input, anchoredAtStart: anchoredAtStart, stepCount: &stepCount)
            }
        }
    }
}

/// A set of instruction indices with O(1) insert, membership and clear.
private struct SparseSet {
    let dense: UnsafeMutablePointer<Int32>
    let sparse: UnsafeMutablePointer<Int32>
    var count = 0

    init(dense: UnsafeMutablePointer<Int32>, sparse: UnsafeMutablePointer<Int32>) {
        self.dense = dense
        self.sparse = sparse
    }

    /// Inserts `value`; returns false if it was already present.
    @inline(__always)
    mutating func insert(_ value: Int32) -> Bool {
        let slot = Int(sparse[Int(value)])
        if slot < count && dense[slot] == value { return false }
        sparse[Int(value)] = Int32(count)
        dense[count] = value
        count += 1
        return true
    }
}

/// The state of one Pike VM run.
private struct PikeMachine {
    /// Marks "no scalar" (before the start or after the end of the input) for assertions.
    static let none = UInt32.max

    let code: UnsafeBufferPointer<RegexInstruction>
    let sets: [ScalarSet]
    var current: SparseSet
    var next: SparseSet
    let stack: UnsafeMutablePointer<Int32>

    mutating func run(_ input: String, anchoredAtStart: Bool, stepCount: inout Int) -> Bool {
        var iterator = input.unicodeScalars.makeIterator()
        var previous = Self.none
        var scalar = iterator.next()?.value ?? Self.none
        if Self.addThread(
            0, to: &current, stack: stack, code: code, previous: previous, following: scalar, steps: &stepCount)
        {
            return true
        }
        while scalar != Self.none {
            let following = iterator.next()?.value ?? Self.none
            next.count = 0
            for slot in 0..<current.count {
                let pc = Int(current.dense[slot])
                let advances: Bool
                switch code[pc] {
                case .scalar(let value): advances = value == scalar
                case .set(let index): advances = sets[Int(index)].contains(scalar)
                default: continue
                }
                stepCount += 1
                if advances
                    && Self.addThread(
                        Int32(pc + 1), to: &next, stack: stack, code: code,
                        previous: scalar, following: following, steps: &stepCount)
                {
                    return true
                }
            }
            if !anchoredAtStart
                && Self.addThread(
                    0, to: &next, stack: stack, code: code, previous: scalar, following: following, steps: &stepCount)
            {
                return true
            }
            swap(&current, &next)
            if current.count == 0 && anchoredAtStart { return false }
            previous = scalar
            scalar = following
        }
        return false
    }

    /// Adds `start` and its epsilon closure at the position between `previous` and `following`;
    /// returns true if the closure reaches `match`.
    @inline(__always)
    private static func addThread(
        _ start: Int32,
        to list: inout SparseSet,
        stack: UnsafeMutablePointer<Int32>,
        code: UnsafeBufferPointer<RegexInstruction>,
        previous: UInt32,
        following: UInt32,
        steps: inout Int
    ) -> Bool {
        var depth = 1
        stack[0] = start
        while depth > 0 {
            depth -= 1
            let pc = stack[depth]
            guard list.insert(pc) else { continue }
            steps += 1
            switch code[Int(pc)] {
            case .match:
                return true
            case .split(let first, let second):
                stack[depth] = second
                stack[depth + 1] = first
                depth += 2
            case .jump(let target):
                stack[depth] = target
                depth += 1
            case .assert(let assertion):
                if holds(assertion, previous: previous, following: following) {
                    stack[depth] = pc + 1
                    depth += 1
                }
            case .scalar, .set:
                break
            }
        }
        return false
    }

    @inline(__always)
    private static func holds(_ assertion: RegexAssertion, previous: UInt32, following: UInt32) -> Bool {
        switch assertion {
        case .startOfInput: return previous == none
        case .endOfInput: return following == none
        case .startOfLine: return previous == none || isLineTerminator(previous)
        case .endOfLine: return following == none || isLineTerminator(following)
        case .wordBoundary: return isWord(previous) != isWord(following)
        case .notWordBoundary: return isWord(previous) == isWord(following)
        }
    }

    @inline(__always)
    private static func isLineTerminator(_ value: UInt32) -> Bool {
        value == 0x0A || value == 0x0D || value == 0x2028 || value == 0x2029
    }

    @inline(__always)
    private static func isWord(_ value: UInt32) -> Bool {
        (0x30...0x39).contains(value) || (0x41...0x5A).contains(value) || (0x61...0x7A).contains(value)
            || value == 0x5F
    }
}
