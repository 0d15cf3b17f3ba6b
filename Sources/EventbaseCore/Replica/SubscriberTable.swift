/// The live subscriptions of a replica, indexed so that an applied event is matched only against
/// the subscriptions it can affect.
///
/// A subscription whose query has an equality condition (`{"room": "a"}`, `{"status": {"$in": […]}}`)
/// is filed under the values it waits for; an event looks up the values its old and new record hold
/// at that path. Other subscriptions are checked on every event. Candidates are returned in
/// subscription order, so notifications of one event reach subscribers in the order they subscribed.
struct SubscriberTable {
    /// Each subscription, and whether its whole query is the condition it is filed under: a record
    /// matches such a one exactly when it is found under one of its values, so it needs no query
    /// evaluation.
    private var all: [Int: (subscriber: Replica.Subscriber, exact: Bool)] = [:]
    private var scanned: Set<Int> = []
    private var byPath: [String: (path: FieldPath, byValue: [JSONValue: Set<Int>])] = [:]
    private var filing: [Int: (path: String, values: [JSONValue])] = [:]

    var count: Int { all.count }

    mutating func insert(_ subscriber: Replica.Subscriber, id: Int) {
        guard let condition = EqualityIndexes.indexableCondition(of: subscriber.query.root) else {
            all[id] = (subscriber, false)
            scanned.insert(id)
            return
        }
        var exact = false
        if case .field(_, let predicates) = subscriber.query.root, predicates.count == 1 { exact = true }
        all[id] = (subscriber, exact)
        let text = condition.path.text
        var entry = byPath[text] ?? (condition.path, [:])
        for value in condition.values { entry.byValue[value, default: []].insert(id) }
        byPath[text] = entry
        filing[id] = (text, condition.values)
    }

    @discardableResult
    mutating func remove(_ id: Int) -> Replica.Subscriber? {
        guard let removed = all.removeValue(forKey: id)?.subscriber else { return nil }
        scanned.remove(id)
        if let (text, values) = filing.removeValue(forKey: id) {
            for value in values {
                byPath[text]?.byValue[value]?.remove(id)
                if byPath[text]?.byValue[value]?.isEmpty == true { byPath[text]?.byValue[value] = nil }
            }
            if byPath[text]?.byValue.isEmpty == true { byPath[text] = nil }
        }
        return removed
    }

    mutating func removeAll() -> [Replica.Subscriber] {
        defer { self = SubscriberTable() }
        return all.keys.sorted().compactMap { all[$0]?.subscriber }
    }

    /// A subscription that may see a change, and, for one whose query needs no evaluation, whether
    /// the old and the new record match it.
    struct Candidate {
        let id: Int
        let subscriber: Replica.Subscriber
        let known: (matchedBefore: Bool, matchesNow: Bool)?
    }

    /// The subscriptions that may see a change from `old` to `new`, in subscription order.
    func candidates(old: Record<JSONValue>?, new: Record<JSONValue>?) -> [Candidate] {
        guard !all.isEmpty else { return [] }
        // Ids in an array, sorted and de-duplicated once: cheaper than a set per event. The low two
        // bits say where an id was found: 1 under a value of the old record, 2 of the new, 0 scanned.
        var marks = scanned.map { $0 << 2 }
        for (_, entry) in byPath {
            func collect(_ record: Record<JSONValue>?, _ bit: Int) {
                guard let record else { return }
                EqualityIndexes.forEachIndexValue(at: entry.path, in: record.data) { value in
                    if let found = entry.byValue[value] {
                        for id in found { marks.append(id << 2 | bit) }
                    }
                }
            }
            collect(old, 1)
            collect(new, 2)
        }
        marks.sort()
        var result: [Candidate] = []
        result.reserveCapacity(marks.count)
        var index = 0
        while index < marks.count {
            let id = marks[index] >> 2
            var found = 0
            while index < marks.count, marks[index] >> 2 == id {
                found |= marks[index] & 3
                index += 1
            }
            guard let (subscriber, exact) = all[id] else { continue }
            // Found under a value (found != 0) means filed.
            let known = found != 0 && exact ? (matchedBefore: found & 1 != 0, matchesNow: found & 2 != 0) : nil
            result.append(Candidate(id: id, subscriber: subscriber, known: known))
        }
        return result
    }
}
