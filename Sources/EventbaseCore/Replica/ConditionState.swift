/// What a replica knows to judge conditional puts as it applies them, the same way on every
/// replica (see docs/adr/0005-conditions-checked-as-applied.md).
///
/// A conditional put carries an ``Event/Expectation``. It holds when the key holds a record at the
/// expected revision, or, for ``Event/Expectation/absent``, no record. A replica that reads the log
/// after purges may never have seen the expected put (a put's writer purges the key's older puts):
/// it then holds an older record of the key, or none, and decides from what it has seen since. An
/// older record means nothing was applied to the key after the expected put (a later put would
/// still be in the log, and a delete would have removed the record), so the put holds. No record
/// means the key was deleted at some point: a delete after the expected revision refuses the put,
/// and without one the expected put came after the last delete, so it holds. Deletes are
/// remembered from ``floor`` on: a replica that started from a snapshot, or forgot old deletes to
/// bound its memory, refuses expectations older than that (its snapshot would hold the record had
/// it not been deleted since).
struct ConditionState: Sendable {
    /// The most deletes remembered; past it the older half is forgotten and ``floor`` moves up.
    static let tombstoneLimit = 200_000
    /// How many rejected sequences are remembered for repeated writes to learn their verdict.
    static let rejectedLimit = 4_096

    /// The sequence of each key's latest delete seen since ``floor``.
    private var tombstones: [ExactKey: UInt64] = [:]
    /// Every delete from this sequence on is remembered.
    private(set) var floor: UInt64
    /// Recently rejected sequences, oldest first (a ring of ``rejectedLimit``).
    private var rejected: [UInt64] = []
    private var rejectedStart = 0

    /// A state that has seen the log from `floor` on.
    init(floor: UInt64) {
        self.floor = max(1, floor)
    }

    /// Whether `expectation` holds for `key` at `sequence`, given its record's meta (`nil`: none).
    func holds(_ expectation: Event.Expectation, key: String, live: Meta?, at sequence: UInt64) -> Bool {
        switch expectation {
        case .absent:
            return live == nil
        case .revision(let revision):
            guard revision < sequence else { return false }
            // A record older than the expected revision: the expected put came after it and was
            // purged before this replica read it (it holds the older record from a snapshot, or
            // because a purge of it failed). Had anything been applied to the key since, this
            // replica would hold it: a put survives until a later put purges it, a delete is kept.
            if let live { return live.revision <= revision }
            if let deleted = tombstones[ExactKey(key)] { return deleted < revision }
            return revision >= floor
        }
    }

    /// Whether a delete of `key` was seen since ``floor`` (no hashing while none was).
    func hasDeleted(_ key: String) -> Bool { !tombstones.isEmpty && tombstones[ExactKey(key)] != nil }

    /// The sequence of the latest delete of `key` seen since ``floor``, if any.
    func latestDelete(of key: String) -> UInt64? { tombstones[ExactKey(key)] }

    /// Notes a delete of `key` applied at `sequence`.
    mutating func deleted(_ key: String, at sequence: UInt64) {
        tombstones[ExactKey(key)] = sequence
        guard tombstones.count > Self.tombstoneLimit else { return }
        let sorted = tombstones.values.sorted()
        let cut = sorted[sorted.count / 2]
        tombstones = tombstones.filter { $0.value > cut }
        floor = max(floor, cut + 1)
    }

    /// Notes that the conditional put at `sequence` was refused.
    mutating func reject(_ sequence: UInt64) {
        if rejected.count < Self.rejectedLimit {
            rejected.append(sequence)
        } else {
            rejected[rejectedStart] = sequence
            rejectedStart = (rejectedStart + 1) % Self.rejectedLimit
        }
    }

    /// Whether the put at `sequence` was refused, when that is still remembered.
    func wasRejected(_ sequence: UInt64) -> Bool { rejected.contains(sequence) }
}
