/// One instruction of a compiled NFA program.
enum RegexInstruction: Sendable, Hashable {
    /// Consume one scalar equal to the value.
    case scalar(UInt32)
    /// Consume one scalar in the program's set at this index.
    case set(Int32)
    /// Continue at both targets (an epsilon fork).
    case split(Int32, Int32)
    /// Continue at the target.
    case jump(Int32)
    /// Continue at the next instruction only if the assertion holds here.
    case assert(RegexAssertion)
    /// The pattern has matched.
    case match
}

/// A compiled Thompson NFA: instructions plus the scalar sets they refer to.
struct RegexProgram: Sendable {
    /// The instructions; execution starts at index 0.
    var instructions: [RegexInstruction] = []
    /// The sets referenced by ``RegexInstruction/set(_:)``.
    var sets: [ScalarSet] = []
    /// Whether every match must start at the beginning of the input (the pattern begins with `^`, no `m`).
    var anchoredAtStart = false
}

/// Compiles a ``RegexNode`` tree to a ``RegexProgram`` by Thompson construction.
///
/// The number of instructions emitted for each node equals the size computed by ``RegexParser``:
/// scalar/set/assertion 1; concatenation the sum; alternation of k branches the sum + 2(k-1);
/// `e{m,n}` m|e| + (n-m)(|e|+1); `e*` |e| + 2; `e{m,}` (m ≥ 1) m|e| + 1; plus one final `match`.
/// Because sizes are known, jump targets are computed up front and the tree is emitted in one
/// pre-order pass driven by an explicit work stack (no recursion on the pattern's depth).
enum RegexCompiler {
    /// A pending piece of output: a node to expand, or an instruction to append.
    private enum Work {
        case node(RegexNode)
        case instruction(RegexInstruction)
    }

    /// Compiles a parsed tree whose size has already been checked against the limits.
    static func compile(_ root: RegexNode) -> RegexProgram {
        var program = RegexProgram()
        var setIndex: [ScalarSet: Int32] = [:]
        var work: [Work] = [.node(root)]
        while let item = work.popLast() {
            let here = program.instructions.count
            switch item {
            case .instruction(let instruction):
                program.instructions.append(instruction)
            case .node(.empty):
                break
            case .node(.scalar(let value)):
                program.instructions.append(.scalar(value))
            case .node(.set(let set)):
                if let single = set.singleScalar {
                    program.instructions.append(.scalar(single))
                } else if let existing = setIndex[set] {
                    program.instructions.append(.set(existing))
                } else {
                    let index = Int32(program.sets.count)
                    program.sets.append(set)
                    setIndex[set] = index
                    program.instructions.append(.set(index))
                }
            case .node(.assertion(let assertion)):
                program.instructions.append(.assert(assertion))
            case .node(.concatenation(let items)):
                work.append(contentsOf: items.reversed().map(Work.node))
            case .node(.alternation(let branches, let sizes)):
                work.append(contentsOf: alternation(branches, sizes: sizes, at: here).reversed())
            case .node(.repetition(let body, let bodySize, let min, let max)):
                work.append(contentsOf: repetition(body, size: bodySize, min: min, max: max, at: here).reversed())
            }
        }
        program.instructions.append(.match)
        program.anchoredAtStart = isAnchoredAtStart(root)
        return program
    }

    /// `split(next, L1); b0; jump(end); L1: split(next, L2); b1; jump(end); ...; L(k-1): b(k-1); end:`.
    private static func alternation(_ branches: [RegexNode], sizes: [Int], at start: Int) -> [Work] {
        let end = start + sizes.reduce(2 * (branches.count - 1), +)
        var output: [Work] = []
        var position = start
        for (offset, branch) in branches.enumerated() {
            if offset == branches.count - 1 {
                output.append(.node(branch))
            } else {
                let nextBranch = position + 1 + sizes[offset] + 1
                output.append(.instruction(.split(Int32(position + 1), Int32(nextBranch))))
                output.append(.node(branch))
                output.append(.instruction(.jump(Int32(end))))
                position = nextBranch
            }
        }
        return output
    }

    /// `e{m,n}`: m copies then (n-m) copies each behind `split(body, end)`; `e*`: `L: split(body, end); e;
    /// jump(L)`; `e{m,}`: m copies, the last followed by `split(last copy, next)`.
    private static func repetition(_ body: RegexNode, size: Int, min: Int, max: Int?, at start: Int) -> [Work] {
        var output = [Work](repeating: .node(body), count: Swift.max(min - (max == nil ? 1 : 0), 0))
        if let max {
            let optionalStart = start + min * size
            let end = optionalStart + (max - min) * (size + 1)
            for copy in 0..<(max - min) {
                let fork = optionalStart + copy * (size + 1)
                output.append(.instruction(.split(Int32(fork + 1), Int32(end))))
                output.append(.node(body))
            }
        } else if min == 0 {
            output.append(.instruction(.split(Int32(start + 1), Int32(start + size + 2))))
            output.append(.node(body))
            output.append(.instruction(.jump(Int32(start))))
        } else {
            let loopStart = start + (min - 1) * size
            output.append(.node(body))
            output.append(.instruction(.split(Int32(loopStart), Int32(loopStart + size + 1))))
        }
        return output
    }

    /// Whether every path starts with `^` (without the `m` flag); iterative.
    private static func isAnchoredAtStart(_ root: RegexNode) -> Bool {
        var pending = [root]
        while let node = pending.popLast() {
            switch node {
            case .assertion(.startOfInput):
                continue
            case .concatenation(let items):
                guard let first = items.first else { return false }
                pending.append(first)
            case .alternation(let branches, _):
                pending.append(contentsOf: branches)
            default:
                return false
            }
        }
        return true
    }
}
