/// The live subscriptions of a replica, indexed so that an applied event is matched only against
/// the subscriptions it can affect.
///
/// A subscription whose query has an equality condition (`{"room": "a"}`, `{"status": {"$in": […]}}`)
/// is filed under the values it waits for; an event looks up the values its old and new record hold
/// at that path. Other subscriptions are checked on every event. Candidates are returned in
/// subscription order, so notifications of one event reach subscribers in the order they subscribed.
struct SubscriberTable {
    private(set) var all: [Int: Replica.Subscriber] = [:]
    private var scanned: Set<Int> = []
    private var byPath: [String: (path: FieldPath, byValue: [JSONValue: Set<Int>])] = [:]
    private var filing: [Int: (path: String, values: [JSONValue])] = [:]

    var count: Int { all.count }

    mutating func insert(_ subscriber: Replica.Subscriber, id: Int) {
        all[id] = subscriber
        guard let condition = EqualityIndexes.indexableCondition(of: subscriber.query.root) else {
            scanned.insert(id)
            return
        }
        let text = condition.path.text
        var entry = byPath[text] ?? (condition.path, [:])
        for value in condition.values { entry.byValue[value, default: []].insert(id) }
        byPath[text] = entry
        filing[id] = (text, condition.values)
    }

    @discardableResult
    mutating func remove(_ id: Int) -> Replica.Subscriber? {
        guard let removed = all.removeValue(forKey: id) else { return nil }
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
        return all.keys.sorted().compactMap { all[$0] }
    }

    /// The subscriptions that may see a change from `old` to `new`, in subscription order.
    func candidates(old: Record<JSONValue>?, new: Record<JSONValue>?) -> [(id: Int, subscriber: Replica.Subscriber)] {
        guard !all.isEmpty else { return [] }
        // Ids in an array, sorted and de-duplicated once: cheaper than a set per event.
        var ids = Array(scanned)
        for (_, entry) in byPath {
            func collect(_ record: Record<JSONValue>?) {
                guard let record else { return }
                EqualityIndexes.forEachIndexValue(at: entry.path, in: record.data) { value in
                    if let found = entry.byValue[value] { ids.append(contentsOf: found) }
                }
            }
            collect(old)
            collect(new)
        }
        ids.sort()
        var result: [(id: Int, subscriber: Replica.Subscriber)] = []
        result.reserveCapacity(ids.count)
        var previous: Int?
        for id in ids where id != previous {
            previous = id
            if let subscriber = all[id] { result.append((id, subscriber)) }
        }
        return result
    }
}
