import EventbaseCore

/// The entries of an in-memory stream by sequence, in chunks of ``chunkSize``: appending never
/// copies the entries already stored (a growing array would copy them all, under the server's lock,
/// each time it doubled), and a purged prefix is dropped a chunk at a time.
struct LogSlots {
    static let chunkSize = 4096

    /// The sequence of slot 0.
    private(set) var base: UInt64 = 1
    /// Slots before this one are all empty (purged).
    private(set) var head = 0
    /// How many slots there are (sequences `base..<base + count`).
    private(set) var count = 0
    /// How many slots hold an entry (not purged).
    private(set) var entryCount = 0
    private var chunks: [[LogEntry?]] = []

    /// The slot of `sequence`, if the slots cover it.
    func index(of sequence: UInt64) -> Int? {
        guard sequence >= base, sequence - base < UInt64(count) else { return nil }
        return Int(sequence - base)
    }

    subscript(index: Int) -> LogEntry? {
        chunks[index / Self.chunkSize][index % Self.chunkSize]
    }

    /// Stores `entry` in the next slot (it must carry the sequence `base + count`).
    mutating func append(_ entry: LogEntry) {
        if count % Self.chunkSize == 0 {
            var chunk: [LogEntry?] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(entry)
        count += 1
        entryCount += 1
    }

    /// Empties slot `index`; returns whether it held an entry.
    mutating func clear(_ index: Int) -> Bool {
        guard chunks[index / Self.chunkSize][index % Self.chunkSize] != nil else { return false }
        chunks[index / Self.chunkSize][index % Self.chunkSize] = nil
        entryCount -= 1
        while head < count, self[head] == nil { head += 1 }
        // Whole chunks of purged slots go (and the slots count from the next one).
        let emptyChunks = min(head / Self.chunkSize, chunks.count - 1)
        if emptyChunks > 0 {
            chunks.removeFirst(emptyChunks)
            let dropped = emptyChunks * Self.chunkSize
            base += UInt64(dropped)
            head -= dropped
            count -= dropped
        }
        return true
    }

    /// The entries in slots `start...`, at most `limit` of them, and the slot after the last one read.
    func entries(from start: Int, limit: Int) -> (entries: [LogEntry], end: Int) {
        var entries: [LogEntry] = []
        var index = max(start, head)
        while index < count, entries.count < limit {
            if let entry = self[index] { entries.append(entry) }
            index += 1
        }
        return (entries, index)
    }
}
