import Foundation
import Logging
import Synchronization

/// The local replica: folds log entries into the state store, releases write waiters, and
/// notifies live queries, in log order.
///
/// One task applies (the instance's tail loop); any task may read, wait or subscribe. Store
/// writes and subscription matching happen under one lock, so a subscription registered with a
/// snapshot of existing records sees every later change exactly once. Writes waiting to be applied
/// are kept under a second lock (taken after the first, never before it), so that writers do not
/// wait while a batch is applied. Handlers, continuations and `onMessage` are called after the
/// locks are released.
final class Replica: Sendable {
    enum Sink: Sendable {
        case handler(SubscriptionHandler)
        case changes(AsyncThrowingStream<Change, any Error>.Continuation)
        /// A live query's changes after its snapshot (which the caller hands over itself).
        case liveQuery(AsyncThrowingStream<Change, any Error>.Continuation)
    }

    /// A class, so that handing candidates around per event costs a retain, not a copy of the
    /// query and the sink.
    final class Subscriber: Sendable {
        let query: Query
        let sink: Sink
        /// The sink's handler, when it is one: called without switching over `sink` (whose
        /// continuations make it an enum the compiler cannot lay out, so every switch goes
        /// through the runtime).
        let handler: SubscriptionHandler?

        init(query: Query, sink: Sink) {
            self.query = query
            self.sink = sink
            if case .handler(let handler) = sink { self.handler = handler } else { self.handler = nil }
        }
    }

    private struct Waiter {
        let sequence: UInt64
        /// When to give up, on the instance's elapsed clock; `nil` waits until applied or failed.
        let deadline: Duration?
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var applied: UInt64
        var subscribers = SubscriberTable()
        var nextID = 1
        var failure: EventbaseError?
        var invalidEntries: [InvalidEntryKind: Int] = [:]
        var indexes = EqualityIndexes()
        /// Deletes seen and puts refused, to judge conditional puts.
        var conditions: ConditionState
    }

    /// Writes waiting for the replica: a copy of what they need from ``State``, kept up to date by
    /// whoever changes it there.
    private struct Writes {
        var applied: UInt64
        var failure: EventbaseError?
        var waiters: [Int: Waiter] = [:]
        var nextID = 1
        /// The deadlines of waiters, in registration order (all share one timeout, so this is sorted).
        var deadlines: [(deadline: Duration, id: Int)] = []
        var deadlinesStart = 0
        /// This instance's puts in flight, by event id: what became of each once applied (`nil`
        /// until then). See ``expectPut(eventID:)``.
        var ownPuts: [String: AppliedPut?] = [:]

        /// Takes every waiter, to resume after the lock is released.
        mutating func takeAll() -> [CheckedContinuation<Void, any Error>] {
            defer { waiters.removeAll() }
            return waiters.values.map(\.continuation)
        }
    }

    /// The records a batch has written so far, for a key written twice in one batch (the store sees
    /// the batch only at its end). A Bloom filter sized to the batch answers most keys (seen for the
    /// first time) without hashing them into a table; a key the filter may have seen is looked for
    /// among the batch's writes, newest first, and once such searches have read more writes than a
    /// few times the batch holds, a table from key to its newest write is built and kept instead. So
    /// a batch costs O(count) whatever its mix of repeated keys, and a crafted key can only make the
    /// filter say "maybe", never skip a write.
    struct BatchOverlay {
        private var filter: [UInt64]
        private let mask: UInt64
        /// Writes the searches may still read before the table is built.
        private var budget: Int
        /// The index in the batch's writes of each key's newest write, once built.
        private var newest: [ExactKey: Int]?

        /// An overlay for a batch of about `capacity` writes.
        init(capacity: Int) {
            // 16 bits a key (two probes: about 1.4 % false positives), 1,024 to 4 Mi bits.
            var bits = 1_024
            while bits < capacity &* 16, bits < 1 << 22 { bits <<= 1 }
            filter = [UInt64](repeating: 0, count: bits >> 6)
            mask = UInt64(bits - 1)
            budget = 4 * max(0, capacity) + 256
        }

        /// The position in `changes` (the batch's writes so far, in order) of the batch's newest
        /// write of `key`, or `nil` when the batch has not written it.
        mutating func pending(_ key: String, written changes: [StateBatch.Write]) -> Int? {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            let first = Int(truncatingIfNeeded: hash & mask)
            let second = Int(truncatingIfNeeded: (hash >> 32 ^ hash >> 13) & mask)
            let seen =
                filter[first >> 6] & (1 << UInt64(first & 63)) != 0
                && filter[second >> 6] & (1 << UInt64(second & 63)) != 0
            filter[first >> 6] |= 1 << UInt64(first & 63)
            filter[second >> 6] |= 1 << UInt64(second & 63)
            guard seen else { return nil }
            if newest == nil {
                let exact = ExactKey(key)
                var index = changes.count
                while index > 0, budget > 0 {
                    index -= 1
                    budget -= 1
                    if ExactKey(changes[index].key) == exact { return index }
                }
                // Every write read: the filter was wrong. Otherwise the budget is spent.
                if index == 0 { return nil }
                var built: [ExactKey: Int] = [:]
                built.reserveCapacity(changes.count)
                for (index, change) in changes.enumerated() { built[ExactKey(change.key)] = index }
                newest = built
            }
            return newest![ExactKey(key)]
        }

        /// Notes that the batch's write at `index` of its writes is to `key`.
        mutating func wrote(_ key: String, at index: Int) {
            if newest != nil { newest![ExactKey(key)] = index }
        }
    }

    /// What became of a put of this instance once the replica applied it.
    struct AppliedPut {
        /// Whether the key had a record, or a delete this replica saw (so an older put or delete
        /// marker of it may be left to purge).
        let replaced: Bool
        /// Whether the put's condition did not hold when it was applied: it changed nothing.
        let rejected: Bool
        private let decoded: Record<JSONValue>?
        private let packed: (key: String, record: PackedRecord)?

        init(replaced: Bool, record: Record<JSONValue>) {
            self.replaced = replaced
            self.rejected = false
            self.decoded = record
            self.packed = nil
        }

        /// A put the replica stored packed only: its record is decoded when the writer reads it.
        init(replaced: Bool, key: String, packed: PackedRecord) {
            self.replaced = replaced
            self.rejected = false
            self.decoded = nil
            self.packed = (key, packed)
        }

        /// A conditional put whose condition did not hold.
        private init() {
            self.replaced = false
            self.rejected = true
            self.decoded = nil
            self.packed = nil
        }

        static let refused = AppliedPut()

        /// The record the put folded to.
        var record: Record<JSONValue> {
            if let decoded { return decoded }
            guard let packed else { preconditionFailure("An applied put holds a record.") }
            return packed.record.record(key: packed.key)
        }
    }

    /// One notification: subscriber `id` gets the change at `slot` of ``Deliveries/changes``, or,
    /// without a subscriber, the onMessage handler gets the entry at `slot` of
    /// ``Deliveries/messages``. A plain struct, copied without the runtime's help.
    struct Delivery {
        let id: Int
        let subscriber: Subscriber?
        let slot: Int
    }

    /// The notifications of a batch: each distinct change made once (every subscriber that an event
    /// moves the same way gets the same change), and who gets what, in order.
    struct Deliveries {
        var changes: [Change] = []
        var messages: [LogEntry] = []
        var items: [Delivery] = []

        /// Files the change `event` makes for each candidate subscriber.
        mutating func add(
            _ candidates: [SubscriberTable.Candidate], key: String, old: Record<JSONValue>?, new: Record<JSONValue>?,
            entry: LogEntry
        ) {
            // The index in `changes` of this event's entered, updated and left change, once made.
            var entered = -1
            var updated = -1
            var left = -1
            for candidate in candidates {
                guard
                    let kind = Replica.changeKind(
                        for: candidate.subscriber.query, known: candidate.known, old: old, new: new)
                else { continue }
                func slot(_ made: inout Int) -> Int {
                    if made < 0 {
                        made = changes.count
                        changes.append(
                            Change(
                                kind: kind, key: key, data: new?.data, meta: new?.meta, oldData: old?.data, entry: entry
                            ))
                    }
                    return made
                }
                let index =
                    switch kind {
                    case .entered: slot(&entered)
                    case .updated: slot(&updated)
                    case .left: slot(&left)
                    }
                items.append(Delivery(id: candidate.id, subscriber: candidate.subscriber, slot: index))
            }
        }
    }

    let store: any StateStore
    let streamName: String
    private let logger: Logger
    private let onMessage: (@Sendable (LogEntry) throws -> Void)?
    private let state: Mutex<State>
    private let writes: Mutex<Writes>
    private let deliveryQueue = Mutex(DeliveryQueue())

    /// What applied batches have for subscribers and the onMessage handler and has not been handed
    /// over yet, in log order. Whoever applies a batch (the follow loop, or a writer on a log in this
    /// process) queues its deliveries under the replica lock, so in log order, and then hands over
    /// what is queued, unless another task is doing so: that task takes what was queued meanwhile
    /// before it stops. So handlers run one at a time and in log order, whichever task applied.
    ///
    /// The queue is bounded: past ``deliveryBacklogLimit`` notifications writers stop applying (they
    /// wait for the follow loop, within their write timeout) and the follow loop waits for the
    /// queue to drain, as it waited for slow handlers when it ran them itself.
    private struct DeliveryQueue {
        var pending: [Deliveries] = []
        /// How many notifications `pending` holds.
        var pendingItems = 0
        var delivering = false
        /// Tasks waiting for the queue to drain below the limit.
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// How many queued notifications make the delivery queue full.
    static let deliveryBacklogLimit = 4_096

    init(
        store: any StateStore,
        streamName: String,
        logger: Logger,
        onMessage: (@Sendable (LogEntry) throws -> Void)?
    ) {
        self.store = store
        self.streamName = streamName
        self.logger = logger
        self.onMessage = onMessage
        self.state = Mutex(
            State(applied: store.lastAppliedSequence, conditions: ConditionState(floor: store.lastAppliedSequence + 1)))
        self.writes = Mutex(Writes(applied: store.lastAppliedSequence))
    }

    /// The last applied sequence.
    var appliedSequence: UInt64 { writes.withLock { $0.applied } }

    /// How many entries were skipped because they were not valid events.
    var invalidEntryCount: Int { state.withLock { $0.invalidEntries.values.reduce(0, +) } }

    /// How many entries were skipped, per kind of problem (kinds never seen are absent).
    var invalidEntryCounts: [InvalidEntryKind: Int] { state.withLock { $0.invalidEntries } }

    /// How many live subscriptions there are.
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Why the replica stopped, if it did.
    var failure: EventbaseError? { writes.withLock { $0.failure } }

    // MARK: Applying

    /// An entry the replica skipped because it is not a valid event.
    struct SkippedEntry: Sendable {
        let sequence: UInt64
        let kind: InvalidEntryKind
    }

    /// Applies a batch from the log. Entries at or below the applied sequence are skipped.
    /// - Parameter delivering: Whether to hand the batch's changes to subscribers and the onMessage
    ///   handler before returning; `false` leaves them queued for a call of ``deliverQueued()``.
    /// - Returns: The entries skipped as invalid (already counted and logged).
    /// - Throws: what the store throws; the replica then fails (waiters get the error).
    @discardableResult
    func apply(_ batch: LogBatch, delivering: Bool = true) throws -> [SkippedEntry] {
        var skipped: [SkippedEntry] = []
        var deliveries = Deliveries()
        var released: [CheckedContinuation<Void, any Error>] = []
        var queued = false
        // Own puts in this batch were registered before they were appended, so before this batch.
        let tracksPuts = writes.withLock { !$0.ownPuts.isEmpty }
        let outcome: Result<Void, EventbaseError> = state.withLock { state in
            guard state.failure == nil, batch.position > state.applied else { return .success(()) }
            var putOutcomes: [(eventID: String, applied: AppliedPut)] = []
            var overlay = BatchOverlay(capacity: batch.entries.count)
            var changes: [StateBatch.Write] = []
            // Without indexes or subscribers only the old record's meta is needed, which a store that
            // keeps documents encoded returns without decoding.
            let needsOldData = state.indexes.count > 0 || state.subscribers.count > 0
            // Nor, then, the new one decoded, unless for onMessage: a put whose document was read from
            // the log packed is stored as it is, with its `id`, and is never decoded.
            let packsDirectly = store.keepsPackedRecords && !needsOldData && onMessage == nil
            // The index changes, in log order, made once the batch's records are packed.
            var indexChanges: [(change: Int, old: Record<JSONValue>?)] = []
            changes.reserveCapacity(batch.entries.count)
            for entry in batch.entries where entry.sequence > state.applied {
                switch entry.payload {
                case .invalid(let subject, let reason, let kind):
                    state.invalidEntries[kind, default: 0] += 1
                    skipped.append(SkippedEntry(sequence: entry.sequence, kind: kind))
                    // The subject is cut short: it is the publisher's text, and may be long.
                    logger.warning(
                        "Skipped an entry that is not a valid event",
                        metadata: [
                            "sequence": "\(entry.sequence)", "kind": "\(kind)",
                            "subject": "\(subject.prefix(200))", "reason": "\(reason)",
                        ])
                case .event(let event):
                    let old: Record<JSONValue>?
                    let oldMeta: Meta?
                    if let pending = overlay.pending(event.key, written: changes) {
                        old = needsOldData ? changes[pending].record : nil
                        oldMeta = changes[pending].meta
                    } else if needsOldData {
                        old = store.record(forKey: event.key)
                        oldMeta = old?.meta
                    } else if event.expectation == nil, event.kind == .delete || (event.changes != nil && !tracksPuts) {
                        // Nothing reads the old record: a delete folds to none, and a put that carries
                        // its meta (as Eventbase writes them) folds without the old one. A replay of
                        // such a stream then costs the store no look-up an event.
                        old = nil
                        oldMeta = nil
                    } else {
                        old = nil
                        oldMeta = store.meta(forKey: event.key)
                    }
                    if event.kind == .delete {
                        state.conditions.deleted(event.key, at: entry.sequence)
                    } else if let expectation = event.expectation,
                        !state.conditions.holds(expectation, key: event.key, live: oldMeta, at: entry.sequence)
                    {
                        // Refused alike by every replica: nothing changes, nobody is told but the writer.
                        state.conditions.reject(entry.sequence)
                        if tracksPuts, let id = event.eventID { putOutcomes.append((id, AppliedPut.refused)) }
                        continue
                    }
                    if packsDirectly, event.kind == .put, let document = event.packedData, !document.hasIDMember {
                        let packed = PackedRecord(
                            document: document, id: event.key,
                            meta: Self.putMeta(oldMeta: oldMeta, event: event, entry: entry))
                        if tracksPuts, let id = event.eventID {
                            let replaced = oldMeta != nil || state.conditions.hasDeleted(event.key)
                            putOutcomes.append((id, AppliedPut(replaced: replaced, key: event.key, packed: packed)))
                        }
                        overlay.wrote(event.key, at: changes.count)
                        changes.append(StateBatch.Write(key: event.key, packed: packed))
                        continue
                    }
                    let new = Self.fold(oldMeta: oldMeta, event: event, entry: entry)
                    if tracksPuts, let new, let id = event.eventID {
                        let replaced = oldMeta != nil || state.conditions.hasDeleted(event.key)
                        putOutcomes.append((id, AppliedPut(replaced: replaced, record: new)))
                    }
                    overlay.wrote(event.key, at: changes.count)
                    if state.indexes.count > 0 { indexChanges.append((changes.count, old)) }
                    changes.append(StateBatch.Write(key: event.key, record: new))
                    deliveries.add(
                        state.subscribers.candidates(old: old, new: new), key: event.key, old: old, new: new,
                        entry: entry)
                    if onMessage != nil {
                        deliveries.items.append(Delivery(id: 0, subscriber: nil, slot: deliveries.messages.count))
                        deliveries.messages.append(entry)
                    }
                }
            }
            if store.keepsPackedRecords {
                // Packed here, once, for the store and its indexes to share; in a pass of their own,
                // so the long-lived buffers sit together in memory rather than between the batch's
                // short-lived trees (which left pages a quarter full: 220 -> 300 bytes a record).
                for index in changes.indices where changes[index].packed == nil {
                    changes[index].packed = changes[index].record.map(PackedRecord.init)
                }
            }
            for (index, old) in indexChanges {
                let change = changes[index]
                let stored = change.packed.map(StoredRecord.packed) ?? change.record.map(StoredRecord.decoded)
                state.indexes.update(key: change.key, old: old, new: change.record, stored: stored)
            }
            do {
                try store.apply(
                    StateBatch(
                        changes: changes, lastAppliedSequence: batch.position,
                        lastAppliedTime: batch.entries.last?.time))
            } catch {
                let failure = EventbaseError(
                    .storageFailure, "The state store failed to apply events; the replica stopped.", cause: error)
                state.failure = failure
                // The indexes hold the batch the store refused: queries scan the store from now on.
                state.indexes.removeAll()
                released = writes.withLock { writes in
                    writes.failure = failure
                    return writes.takeAll()
                }
                return .failure(failure)
            }
            state.applied = batch.position
            released = writes.withLock { writes in
                writes.applied = batch.position
                for (id, applied) in putOutcomes {
                    // Own puts only (one look-up), each the first time it is applied.
                    if let index = writes.ownPuts.index(forKey: id), writes.ownPuts.values[index] == nil {
                        writes.ownPuts.values[index] = applied
                    }
                }
                var released: [CheckedContinuation<Void, any Error>] = []
                for (id, waiter) in writes.waiters where waiter.sequence <= batch.position {
                    released.append(waiter.continuation)
                    writes.waiters[id] = nil
                }
                return released
            }
            queued = queue(deliveries)
            return .success(())
        }
        switch outcome {
        case .success:
            for continuation in released { continuation.resume() }
            if queued, delivering { deliverQueued() }
            return skipped
        case .failure(let error):
            for continuation in released { continuation.resume(throwing: error) }
            throw error
        }
    }

    /// Empties the replica to read the log again: every record leaves (subscribers are told, as for
    /// a delete of each key), and applying starts again after sequence 0. Writes still waiting fail
    /// with `.streamDeleted` (for a stream deleted and created again: they went to the old stream),
    /// or, with `keepingWaiters`, keep waiting for their sequence to be applied again.
    /// - Throws: what the store throws when it resets; the replica then fails.
    func rebuild(identity: StreamIdentity, time: Date, keepingWaiters: Bool = false) throws {
        var deliveries = Deliveries()
        var released: [CheckedContinuation<Void, any Error>] = []
        var queued = false
        let outcome: Result<Void, EventbaseError> = state.withLock { state in
            guard state.failure == nil else { return .success(()) }
            var removed: [(key: String, record: Record<JSONValue>)] = []
            // Only subscribers and indexes need the removed records.
            if state.subscribers.count > 0 || state.indexes.count > 0 {
                store.forEachRecord { key, record in removed.append((key, record)) }
            }
            do {
                try store.reset(identity: identity)
            } catch {
                let failure = EventbaseError(
                    .storageFailure, "The state store failed to reset for the recreated stream.", cause: error)
                state.failure = failure
                state.indexes.removeAll()
                released = writes.withLock { writes in
                    writes.failure = failure
                    return writes.takeAll()
                }
                return .failure(failure)
            }
            let timestamp = time.millisecondsSince1970
            for (key, old) in removed {
                state.indexes.update(key: key, old: old, new: nil, stored: nil)
                let entry = LogEntry(
                    sequence: 0, time: time, event: Event(kind: .delete, key: key, timestamp: timestamp))
                deliveries.add(
                    state.subscribers.candidates(old: old, new: nil), key: key, old: old, new: nil, entry: entry)
            }
            state.applied = 0
            state.conditions = ConditionState(floor: 1)
            released = writes.withLock { writes in
                writes.applied = 0
                return keepingWaiters ? [] : writes.takeAll()
            }
            queued = queue(deliveries)
            return .success(())
        }
        switch outcome {
        case .success:
            let error = EventbaseError(
                .streamDeleted, "Stream \(streamName) was deleted and created again; the write went to the old stream.")
            for continuation in released { continuation.resume(throwing: error) }
            if queued { deliverQueued() }
        case .failure(let error):
            for continuation in released { continuation.resume(throwing: error) }
            throw error
        }
    }

    /// The record after applying `event` to `old`.
    static func fold(old: Record<JSONValue>?, event: Event, entry: LogEntry) -> Record<JSONValue>? {
        fold(oldMeta: old?.meta, event: event, entry: entry)
    }

    /// The record after applying `event` to a record with meta `oldMeta` (`nil`: no record).
    static func fold(oldMeta old: Meta?, event: Event, entry: LogEntry) -> Record<JSONValue>? {
        switch event.kind {
        case .delete:
            return nil
        case .put:
            var data = event.data ?? .object([:])
            if case .object(var object) = data {
                object["id"] = .string(event.key)
                data = .object(object)
            }
            return Record(key: event.key, data: data, meta: putMeta(oldMeta: old, event: event, entry: entry))
        }
    }

    /// The meta of the record a put folds to, over a record with meta `old` (`nil`: no record).
    static func putMeta(oldMeta old: Meta?, event: Event, entry: LogEntry) -> Meta {
        let changes: Int
        let created: Date
        if let carried = event.changes {
            // The writer's count is authoritative, so replicas that replay after purges agree.
            changes = carried
            created = event.dateCreated.map { Date(millisecondsSince1970: $0) } ?? entry.time
        } else {
            changes = (old?.changes ?? 0) + 1
            created = old?.dateCreated ?? entry.time
        }
        return Meta(dateCreated: created, dateModified: entry.time, changes: changes, revision: entry.sequence)
    }

    /// How a change from `old` to `new` moves a record relative to `query`; `nil` when it concerns
    /// the query not at all. `known` gives whether each matches, when the subscription table already
    /// knows (the query is the equality it is filed under).
    static func changeKind(
        for query: Query, known: (matchedBefore: Bool, matchesNow: Bool)?, old: Record<JSONValue>?,
        new: Record<JSONValue>?
    ) -> Change.Kind? {
        let matchedBefore = old.map { known?.matchedBefore ?? query.matches($0.data) } ?? false
        let matchesNow = new.map { known?.matchesNow ?? query.matches($0.data) } ?? false
        switch (matchedBefore, matchesNow) {
        case (false, true): return .entered
        case (true, true): return .updated
        case (true, false): return .left
        case (false, false): return nil
        }
    }

    /// Queues a batch's deliveries, if it has any (call under the replica lock, so batches queue in
    /// log order). Returns whether it had any.
    private func queue(_ batch: Deliveries) -> Bool {
        guard !batch.items.isEmpty else { return false }
        deliveryQueue.withLock { queue in
            queue.pending.append(batch)
            queue.pendingItems += batch.items.count
        }
        return true
    }

    /// Whether more than ``deliveryBacklogLimit`` notifications wait to be handed over.
    var deliveryBacklogged: Bool {
        deliveryQueue.withLock { $0.pendingItems > Self.deliveryBacklogLimit }
    }

    /// How many tasks wait in ``awaitDeliveryBacklog()`` (for tests).
    var deliveryWaiterCount: Int { deliveryQueue.withLock { $0.waiters.count } }

    /// Returns once at most ``deliveryBacklogLimit`` notifications wait to be handed over: hands them
    /// over itself when no other task is doing so, else waits for that task.
    func awaitDeliveryBacklog() async {
        while deliveryBacklogged {
            deliverQueued()
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Registered only while another task hands over a full queue: it resumes the waiters
                // when it is done. Otherwise check again (and hand over, if no one is).
                let registered = deliveryQueue.withLock { queue in
                    guard queue.delivering, queue.pendingItems > Self.deliveryBacklogLimit else { return false }
                    queue.waiters.append(continuation)
                    return true
                }
                if !registered { continuation.resume() }
            }
        }
    }

    /// Hands over what applied batches queued for subscribers and the onMessage handler, in log
    /// order, unless another task is doing so (it then hands over what was queued here too).
    /// Call without holding a lock that a handler's work may need.
    func deliverQueued() {
        while true {
            let batches = deliveryQueue.withLock { queue -> [Deliveries] in
                guard !queue.delivering, !queue.pending.isEmpty else { return [] }
                queue.delivering = true
                queue.pendingItems = 0
                defer { queue.pending = [] }
                return queue.pending
            }
            guard !batches.isEmpty else { return }
            for batch in batches { deliver(batch) }
            let waiters = deliveryQueue.withLock { queue in
                queue.delivering = false
                defer { queue.waiters = [] }
                return queue.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    private func deliver(_ deliveries: consuming Deliveries) {
        let (items, changes, messages) = (deliveries.items, deliveries.changes, deliveries.messages)
        // Handlers get the shared change lent from the buffer, not a copy each.
        changes.withUnsafeBufferPointer { changes in
            items.withUnsafeBufferPointer { items in deliver(items, changes, messages) }
        }
    }

    private func deliver(
        _ items: UnsafeBufferPointer<Delivery>, _ changes: UnsafeBufferPointer<Change>, _ messages: [LogEntry]
    ) {
        for index in items.indices {
            guard let subscriber = items[index].subscriber else {
                do {
                    try onMessage?(messages[items[index].slot])
                } catch {
                    logger.warning("onMessage threw; replication continues", metadata: ["error": "\(error)"])
                }
                continue
            }
            let change = changes.baseAddress! + items[index].slot
            if let handler = subscriber.handler {
                do {
                    try handler(change.pointee.key, change.pointee.data, change.pointee.meta, change.pointee)
                } catch {
                    logger.warning(
                        "A subscription handler threw; replication continues",
                        metadata: ["subscription": "\(items[index].id)", "error": "\(error)"])
                }
                continue
            }
            switch subscriber.sink {
            case .handler:
                break
            case .changes(let continuation):
                if case .dropped = continuation.yield(change.pointee) { overflowed(items[index].id) }
            case .liveQuery(let continuation):
                if case .dropped = continuation.yield(change.pointee) { overflowed(items[index].id) }
            }
        }
    }

    private func overflowed(_ id: Int) {
        let error = EventbaseError(
            .slowConsumer,
            "A change stream fell too far behind and was ended; consume faster or raise changeBufferSize.")
        let removed = state.withLock { $0.subscribers.remove(id) }
        finish(removed?.sink, throwing: error)
    }

    // MARK: Indexes

    /// The records that can match `query`, from an equality index, or `nil` when no index applies
    /// (the caller then scans the store). Builds an index on first use while fewer than `maxIndexes` exist.
    func candidates(for query: Query, maxIndexes: Int) -> [(key: String, record: StoredRecord)]? {
        guard let condition = EqualityIndexes.indexableCondition(of: query.root) else { return nil }
        // The index holds the records as the store does (packed, for a store that keeps them so), in
        // step with it under the lock: one consistent view, with no look-up in the store.
        return state.withLock { state in
            if let found = state.indexes.candidates(path: condition.path, values: condition.values) {
                return found
            }
            guard state.indexes.count < maxIndexes, state.failure == nil else { return nil }
            logger.debug("Building an equality index", metadata: ["field": "\(condition.path.text)"])
            state.indexes.build(condition.path, from: store)
            return state.indexes.candidates(path: condition.path, values: condition.values)
        }
    }

    /// The fields that have an equality index.
    var indexedFields: [String] {
        state.withLock { $0.indexes.fieldNames }
    }

    // MARK: Waiting

    /// Registers a put this instance is about to append, so that ``takePut(eventID:)`` can tell,
    /// once it is applied, the record it stored and whether it replaced one (and so left an older
    /// put to purge).
    /// The sequence of the latest delete of `key` this replica has applied, if it still remembers it.
    func latestDelete(of key: String) -> UInt64? {
        state.withLock { $0.conditions.latestDelete(of: key) }
    }

    /// Whether the conditional put at `sequence` was refused when it was applied (`false` when it
    /// was not, or it is no longer remembered).
    func wasRejected(_ sequence: UInt64) -> Bool {
        state.withLock { $0.conditions.wasRejected(sequence) }
    }

    /// Reads the store at a known position: `body` runs under the replica's lock, with the
    /// sequence applied, so nothing is applied meanwhile.
    func atPosition<T>(_ body: (UInt64) throws -> T) rethrows -> T {
        try state.withLock { state in try body(state.applied) }
    }

    func expectPut(eventID: String) {
        writes.withLock { $0.ownPuts[eventID] = .some(nil) }
    }

    /// What became of the put registered with ``expectPut(eventID:)``; `nil` when it was not seen
    /// being applied (for example when the replica was rebuilt meanwhile). Forgets the put.
    func takePut(eventID: String) -> AppliedPut? {
        writes.withLock { $0.ownPuts.removeValue(forKey: eventID) } ?? nil
    }

    /// Waits until the replica has applied `sequence`.
    /// - Parameter deadline: When to give up with `.timeout` (on the elapsed clock that
    ///   ``expireWaiters(now:)`` is called with); `nil` never gives up.
    /// - Throws: `.timeout`; the replica's failure (`.closed`, `.streamDeleted`, `.storageFailure`);
    ///   `CancellationError` when the task is cancelled.
    func waitUntilApplied(_ sequence: UInt64, deadline: Duration? = nil) async throws {
        let first = writes.withLock { writes -> Result<Int, any Error>? in
            if let failure = writes.failure { return .failure(failure) }
            if writes.applied >= sequence { return nil }
            defer { writes.nextID += 1 }
            return .success(writes.nextID)
        }
        guard let first else { return }
        let id = try first.get()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let immediate: Result<Void, any Error>? = writes.withLock { writes in
                    if let failure = writes.failure { return .failure(failure) }
                    if writes.applied >= sequence { return .success(()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    writes.waiters[id] = Waiter(sequence: sequence, deadline: deadline, continuation: continuation)
                    if let deadline { writes.deadlines.append((deadline, id)) }
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                } else if deadline != nil {
                    deadlineAdded.offer(())
                }
            }
        } onCancel: {
            let waiter = writes.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Signalled when a waiter with a deadline registers, so the deadline loop can wake.
    let deadlineAdded = BoundedQueue<Void>(capacity: 1)

    /// The earliest deadline of a waiter still waiting, if any.
    var nextDeadline: Duration? {
        writes.withLock { state in
            while state.deadlinesStart < state.deadlines.count {
                let (deadline, id) = state.deadlines[state.deadlinesStart]
                if state.waiters[id] != nil { return deadline }
                state.deadlinesStart += 1
            }
            state.deadlines.removeAll(keepingCapacity: true)
            state.deadlinesStart = 0
            return nil
        }
    }

    /// Fails every waiter whose deadline is at or before `now` with `.timeout`.
    func expireWaiters(now: Duration, message: String) {
        let expired = writes.withLock { state -> [CheckedContinuation<Void, any Error>] in
            var expired: [CheckedContinuation<Void, any Error>] = []
            while state.deadlinesStart < state.deadlines.count, state.deadlines[state.deadlinesStart].deadline <= now {
                let id = state.deadlines[state.deadlinesStart].id
                state.deadlinesStart += 1
                if let waiter = state.waiters.removeValue(forKey: id) { expired.append(waiter.continuation) }
            }
            if state.deadlinesStart > 1024, state.deadlinesStart * 2 > state.deadlines.count {
                state.deadlines.removeFirst(state.deadlinesStart)
                state.deadlinesStart = 0
            }
            return expired
        }
        let error = EventbaseError(.timeout, message)
        for continuation in expired { continuation.resume(throwing: error) }
    }

    // MARK: Subscribing

    /// Registers a subscriber.
    /// - Returns: The subscriber's id.
    func subscribe(_ query: Query, sink: Sink) throws -> Int {
        try subscribe(query, sink: sink, snapshot: false).id
    }

    /// Registers a subscriber and, with `snapshot`, takes the records that match `query` now, in
    /// the same step under the lock, so that the snapshot and the changes the subscriber is sent
    /// afterwards neither miss nor repeat a change. The records are taken as the store holds them
    /// (packed, without decoding); the caller decodes and hands them over after the lock is released.
    /// - Returns: The subscriber's id, and the matching records (empty without `snapshot`).
    func subscribe(_ query: Query, sink: Sink, snapshot: Bool) throws -> (
        id: Int, records: [(key: String, record: StoredRecord)]
    ) {
        try state.withLock { state in
            if let failure = state.failure { throw failure }
            let id = state.nextID
            state.nextID += 1
            var records: [(key: String, record: StoredRecord)] = []
            if snapshot {
                store.forEachStoredRecord { key, record in
                    if record.matches(query) { records.append((key, record)) }
                }
            }
            state.subscribers.insert(Subscriber(query: query, sink: sink), id: id)
            return (id, records)
        }
    }

    /// Removes a subscriber and finishes its stream, if it has one.
    func unsubscribe(_ id: Int) {
        let removed = state.withLock { $0.subscribers.remove(id) }
        finish(removed?.sink, throwing: nil)
    }

    private func finish(_ sink: Sink?, throwing error: EventbaseError?) {
        switch sink {
        case .changes(let continuation)?: continuation.finish(throwing: error)
        case .liveQuery(let continuation)?: continuation.finish(throwing: error)
        case .handler?, nil: break
        }
    }

    // MARK: Stopping

    /// Stops the replica: waiters fail with `error`, change streams finish (throwing it unless it is
    /// `.closed`), and later waits and subscriptions throw it.
    func fail(_ error: EventbaseError) {
        let (waiters, subscribers) = state.withLock { state in
            if state.failure == nil { state.failure = error }
            let failure = state.failure
            let waiters = writes.withLock { writes in
                writes.failure = failure
                return writes.takeAll()
            }
            return (waiters, state.subscribers.removeAll())
        }
        for waiter in waiters { waiter.resume(throwing: error) }
        for subscriber in subscribers {
            finish(subscriber.sink, throwing: error.code == .closed ? nil : error)
        }
    }
}
