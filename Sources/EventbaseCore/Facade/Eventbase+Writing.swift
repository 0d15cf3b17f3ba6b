import Foundation
import Synchronization

extension Eventbase {
    /// Stores `data` under a new UUID key.
    /// - Returns: The generated key and the stored record.
    /// - Throws: see ``put(_:_:)-(String,JSONValue)``. A retry after `.timeout` or `.unavailable`
    ///   may store the document twice, under two keys: use ``insert(_:idempotencyKey:)-(JSONValue,_)``
    ///   to retry safely.
    @discardableResult
    public func insert(_ data: JSONValue) async throws -> InsertResult {
        let key = UUID().uuidString.lowercased()
        let record = try await put(key, data)
        return InsertResult(id: key, record: record)
    }

    /// Stores `data` under a key derived from `idempotencyKey`, so that repeating the call is safe.
    ///
    /// The key is a UUID derived from `idempotencyKey`: the same idempotency key always inserts
    /// under the same key. Repeated within the stream's duplicate window (two minutes by default on
    /// JetStream), by this instance or any other, the call writes nothing new and returns the first
    /// call's id and record, also when the first call ended in `.timeout` or `.unavailable`.
    /// - Parameters:
    ///   - data: A JSON object.
    ///   - idempotencyKey: A non-empty string of at most 512 UTF-8 bytes that identifies this insert,
    ///     such as a request id the client sent.
    /// - Throws: `.invalidArgument` for an empty or over-long idempotency key; otherwise as
    ///   ``put(_:_:)-(String,JSONValue)``.
    @discardableResult
    public func insert(_ data: JSONValue, idempotencyKey: String) async throws -> InsertResult {
        try IdempotencyKeys.validate(idempotencyKey)
        let key = IdempotencyKeys.insertKey(idempotencyKey: idempotencyKey)
        let record = try await put(key, data, idempotencyKey: idempotencyKey)
        return InsertResult(id: key, record: record)
    }

    /// Stores `data` under `key`, replacing what the key held.
    ///
    /// Returns once this instance's replica has applied the write.
    /// - Parameters:
    ///   - key: Any non-empty string within ``NameRules/maxKeyBytes(stream:)``.
    ///   - data: A JSON object; the stored document gets `"id": key` added.
    /// - Returns: The record this put stored, as the replica applied it (later writes to the key do not show in it).
    /// - Throws: `.invalidKey`; `.invalidArgument` when `data` is not an object; `.limitExceeded` when it
    ///   nests deeper than ``EventbaseOptions/jsonLimits`` (or the default limits replicas read with)
    ///   allow, or its event is larger than the server's max_payload; `.timeout` after
    ///   ``EventbaseOptions/writeTimeout`` and `.unavailable` when the outcome is unknown (the write
    ///   may or may not have been stored: only a retry with an idempotency key, see
    ///   ``put(_:_:idempotencyKey:)-(String,JSONValue,_)``, is safe); `.closed`; `.streamDeleted`.
    @discardableResult
    public func put(_ key: String, _ data: JSONValue) async throws -> Record<JSONValue> {
        try await write(key, data, condition: nil, eventID: EventIDs.next())
    }

    /// Stores `data` under `key`, so that repeating the call is safe.
    ///
    /// Repeated with the same `idempotencyKey` and `key` within the stream's duplicate window (two
    /// minutes by default on JetStream), by this instance or any other, the call writes nothing new
    /// and returns the first call's record and revision, also when the first call ended in
    /// `.timeout` or `.unavailable` and its caller never learned whether it was stored. Past the
    /// window a repeat is a new write.
    /// - Parameters:
    ///   - key: The key.
    ///   - data: A JSON object.
    ///   - idempotencyKey: A non-empty string of at most 512 UTF-8 bytes that identifies this write.
    /// - Returns: The record the first call stored. When later writes to the key have replaced it
    ///   and the log no longer holds it, the record is rebuilt from this call's document.
    /// - Throws: `.invalidArgument` for an empty or over-long idempotency key; otherwise as
    ///   ``put(_:_:)-(String,JSONValue)``.
    @discardableResult
    public func put(_ key: String, _ data: JSONValue, idempotencyKey: String) async throws -> Record<JSONValue> {
        try IdempotencyKeys.validate(idempotencyKey)
        return try await write(
            key, data, condition: nil,
            eventID: IdempotencyKeys.eventID(operation: "put", key: key, idempotencyKey: idempotencyKey))
    }

    /// Stores `data` under `key` only if the key's current revision is `expectedRevision`
    /// (its ``Meta/revision``), or, with `nil`, only if the key does not exist.
    /// - Throws: `.conflict` when someone else wrote first (nothing was written); otherwise as
    ///   ``put(_:_:)-(String,JSONValue)``.
    @discardableResult
    public func put(_ key: String, _ data: JSONValue, expectedRevision: UInt64?) async throws -> Record<JSONValue> {
        try await write(
            key, data, condition: expectedRevision.map { .keyRevision($0) } ?? .keyAbsent, eventID: EventIDs.next())
    }

    /// Stores `data` under `key` only if the key's current revision is `expectedRevision`, so that
    /// repeating the call is safe.
    ///
    /// A repeat with the same `idempotencyKey` within the duplicate window returns the first call's
    /// record even though the key's revision has moved on: the log recognises the repeat before it
    /// checks the condition.
    /// - Throws: `.conflict` when someone else wrote first; otherwise as
    ///   ``put(_:_:idempotencyKey:)-(String,JSONValue,_)``.
    @discardableResult
    public func put(_ key: String, _ data: JSONValue, expectedRevision: UInt64?, idempotencyKey: String) async throws
        -> Record<JSONValue>
    {
        try IdempotencyKeys.validate(idempotencyKey)
        return try await write(
            key, data, condition: expectedRevision.map { .keyRevision($0) } ?? .keyAbsent,
            eventID: IdempotencyKeys.eventID(operation: "put", key: key, idempotencyKey: idempotencyKey),
            repeatable: true)
    }

    /// Stores any `Encodable` value (it must encode as a JSON object) under `key`.
    /// - Throws: `.encodingFailed`, and what ``put(_:_:)-(String,JSONValue)`` throws.
    @discardableResult
    public func put<Value: Encodable>(_ key: String, _ value: Value) async throws -> Record<JSONValue> {
        try await put(key, try JSONValueEncoder().encode(value))
    }

    /// Stores any `Encodable` value under `key`, so that repeating the call is safe (see
    /// ``put(_:_:idempotencyKey:)-(String,JSONValue,_)``).
    @discardableResult
    public func put<Value: Encodable>(_ key: String, _ value: Value, idempotencyKey: String) async throws
        -> Record<JSONValue>
    {
        try await put(key, try JSONValueEncoder().encode(value), idempotencyKey: idempotencyKey)
    }

    /// Stores any `Encodable` value under `key` only if the key's current revision is
    /// `expectedRevision` (`nil`: only if the key does not exist).
    /// - Throws: `.encodingFailed`, and what ``put(_:_:expectedRevision:)-(String,JSONValue,_)`` throws.
    @discardableResult
    public func put<Value: Encodable>(_ key: String, _ value: Value, expectedRevision: UInt64?) async throws
        -> Record<JSONValue>
    {
        try await put(key, try JSONValueEncoder().encode(value), expectedRevision: expectedRevision)
    }

    /// Stores an `Encodable` value under a new UUID key.
    @discardableResult
    public func insert<Value: Encodable>(_ value: Value) async throws -> InsertResult {
        try await insert(try JSONValueEncoder().encode(value))
    }

    /// Stores an `Encodable` value under a key derived from `idempotencyKey`, so that repeating the
    /// call is safe (see ``insert(_:idempotencyKey:)-(JSONValue,_)``).
    @discardableResult
    public func insert<Value: Encodable>(_ value: Value, idempotencyKey: String) async throws -> InsertResult {
        try await insert(try JSONValueEncoder().encode(value), idempotencyKey: idempotencyKey)
    }

    /// Puts `data` under `key` with the event id `eventID`. A `repeatable` conditional write (its
    /// event id comes from an idempotency key) whose condition fails, here or on the server, is
    /// recognised as a repeat when the key's current record was written with the same event id
    /// (JetStream checks a condition before it looks for a duplicate, so the server refuses such a
    /// repeat): it then answers with that record; otherwise with `.conflict`.
    func write(
        _ key: String, _ data: JSONValue, condition: AppendCondition?, eventID: String, repeatable: Bool = false
    ) async throws -> Record<JSONValue> {
        let started = try beginWrite()
        defer { endWrite() }
        try NameRules.validateKey(key, stream: streamName)
        guard case .object = data else {
            throw EventbaseError(.invalidArgument, "put stores JSON objects; wrap the \(data.typeName) in an object.")
        }
        // Replicas read events with JSONLimits.default: a deeper document would be sent, then skipped
        // by every replica (and this write would time out). The event object adds one level.
        let maxDepth = min(configuration.options.jsonLimits.maxDepth, JSONLimits.default.maxDepth) - 1
        if data.nests(deeperThan: maxDepth) {
            throw EventbaseError(
                .limitExceeded,
                "The document nests deeper than \(maxDepth) levels, more than replicas read; flatten it.")
        }
        let deadline = elapsed.now() + configuration.options.writeTimeout
        let expectation: Event.Expectation?
        switch condition {
        case .keyRevision(let revision)?: expectation = .revision(revision)
        case .keyAbsent?: expectation = .absent
        case .lastSequence?, nil: expectation = nil
        }
        if case .revision(let revision)? = expectation, replica.appliedSequence < revision {
            try await catchUp(toRevision: revision, of: key, deadline: deadline)
        }
        var existing = store.meta(forKey: key)
        if let expectation {
            do {
                try Self.check(expectation, key: key, existing: existing)
            } catch  where repeatable {
                if let first = try await firstWrite(of: key, eventID: eventID, revision: existing?.revision) {
                    stats.record(.put, started: started, id: key)
                    return first
                }
                throw error
            }
        }
        func event() -> Event {
            Event(
                kind: .put, key: key, data: data, timestamp: started.millisecondsSince1970, eventID: eventID,
                changes: (existing?.changes ?? 0) + 1, dateCreated: existing?.dateCreated.millisecondsSince1970,
                expectation: expectation)
        }
        // The replica notes whether the key had a record when this put was applied. When it had
        // none, no earlier put of the key is left in the stream: it was never put, or a delete
        // (whose writer purges the puts before it) came last. So concurrent puts of new keys, the
        // common case, cost the server no purge.
        replica.expectPut(eventID: eventID)
        var written = event()
        var expectedID = eventID
        let ack: AppendAck
        do {
            do {
                ack = try await appendAndWait(written, condition: condition, deadline: deadline)
            } catch let error as EventbaseError where error.code == .conflict && expectation != nil {
                // The key's put subject ends with a put this replica has not applied yet, or one that
                // was refused as it was applied (which the server cannot tell), or a repeatable
                // write's first copy. Catch up and judge again; when the condition still holds,
                // every replica checks it as it applies the put.
                try await settle(.latest)
                existing = store.meta(forKey: key)
                do {
                    try Self.check(expectation!, key: key, existing: existing)
                } catch  where repeatable {
                    _ = replica.takePut(eventID: eventID)
                    if let first = try await firstWrite(of: key, eventID: eventID, revision: existing?.revision) {
                        stats.record(.put, started: started, id: key)
                        return first
                    }
                    throw error
                }
                written = event()
                if !repeatable {
                    // A new id: a server may still hold the refused copy's id as in process.
                    _ = replica.takePut(eventID: eventID)
                    expectedID = EventIDs.next()
                    written.eventID = expectedID
                    replica.expectPut(eventID: expectedID)
                }
                ack = try await appendAndWait(written, condition: nil, deadline: deadline)
            }
        } catch {
            _ = replica.takePut(eventID: expectedID)
            throw error
        }
        let applied = replica.takePut(eventID: expectedID)
        // A repeat of a conditional put whose first copy this replica cannot vouch for (refused as it
        // was applied, or applied before this replica started): its outcome cannot be told.
        let unvouched =
            applied == nil && ack.duplicate && expectation != nil
            && store.meta(forKey: key)?.revision != ack.sequence
        if applied?.rejected == true || (applied == nil && ack.duplicate && replica.wasRejected(ack.sequence))
            || unvouched
        {
            stats.record(.put, started: started, id: key)
            throw EventbaseError(
                .conflict,
                "The key \(key) was written or deleted before this conditional put was applied; nothing was stored. Read it again and retry."
            )
        }
        if configuration.options.retention == .latestPut, !ack.duplicate, applied?.replaced != false {
            maintenance.purge(key, before: ack.sequence, markers: replica.latestDelete(of: key) != nil)
        }
        stats.record(.put, started: started, id: key)
        // The record as this put stored it, when the replica was seen applying it (the usual case).
        if let applied { return applied.record }
        if let stored = store.record(forKey: key), stored.meta.revision == ack.sequence {
            return stored
        }
        // A later write to the key (a delete, or another instance's put) was applied meanwhile;
        // answer with what this write stored. A repeat of an earlier write answers with what the
        // first one stored, read back from the log while it holds it.
        if ack.duplicate, let stored = try? await storedRecord(at: ack.sequence, key: key) {
            return stored
        }
        let entry = LogEntry(sequence: ack.sequence, time: ack.time ?? started, event: written)
        guard let own = Replica.fold(oldMeta: existing, event: written, entry: entry) else {
            throw EventbaseError(.internalError, "A put folded to no record.")
        }
        return own
    }

    /// The record `key` holds when its current revision (`revision`) was written with `eventID`: the
    /// outcome of the first attempt of a repeated write; `nil` otherwise.
    func firstWrite(of key: String, eventID: String, revision: UInt64?) async throws -> Record<JSONValue>? {
        guard let revision, let record = store.record(forKey: key), record.meta.revision == revision else {
            return nil
        }
        let entry = try? await withDeadline(
            configuration.options.writeTimeout, clock: configuration.clock, "Reading entry \(revision)"
        ) { [log] in
            try await log.entry(atSequence: revision)
        }
        guard let found = entry ?? nil, case .event(let event) = found.payload, event.eventID == eventID else {
            return nil
        }
        return record
    }

    /// Waits until this replica has applied `revision`, a revision that another instance's write
    /// returned, so that a condition on it is judged against it; throws `.conflict` at once for a
    /// revision past the stream's last sequence, which no record can have.
    func catchUp(toRevision revision: UInt64, of key: String, deadline: Duration) async throws {
        let last = try await withDeadline(
            configuration.options.writeTimeout, clock: configuration.clock,
            "Reading the last sequence of stream \(streamName)"
        ) { [log] in
            try await log.state().lastSequence
        }
        guard revision <= last else {
            throw EventbaseError(
                .conflict,
                "The key \(key) cannot be at revision \(revision): the stream's last sequence is \(last); nothing was written."
            )
        }
        try await waitForReplica(revision, deadline: deadline)
    }

    /// Throws `.conflict` unless `expectation` holds for a key whose record has meta `existing`
    /// (`nil`: none) in this replica.
    static func check(_ expectation: Event.Expectation, key: String, existing: Meta?) throws {
        switch expectation {
        case .absent where existing != nil:
            throw EventbaseError(
                .conflict, "The key \(key) exists (revision \(existing!.revision)); nothing was written.")
        case .revision(let revision) where existing?.revision != revision:
            let now = existing.map { "its revision is \($0.revision)" } ?? "it does not exist"
            throw EventbaseError(
                .conflict,
                "The key \(key) changed since revision \(revision) (\(now)); nothing was written. Read it again and retry."
            )
        default:
            break
        }
    }

    /// Waits until the replica has applied `sequence`, failing with `.timeout` at `deadline` (on the
    /// elapsed clock): the background work's deadline loop enforces it, and before ``run()`` has
    /// started that, this wait does.
    func waitForReplica(_ sequence: UInt64, deadline: Duration) async throws {
        guard !backgroundStarted.load(ordering: .acquiring) else {
            return try await replica.waitUntilApplied(sequence, deadline: deadline)
        }
        let replica = self.replica
        do {
            try await withDeadline(max(.zero, deadline - elapsed.now()), clock: configuration.clock, "") {
                try await replica.waitUntilApplied(sequence, deadline: deadline)
            }
        } catch let error as EventbaseError where error.code == .timeout {
            throw EventbaseError(
                .timeout,
                LogFollower.writeTimeoutMessage(streamName: streamName, timeout: configuration.options.writeTimeout))
        }
    }

    /// Appends and waits for this instance's replica to apply the event. The log bounds its own
    /// waits (a port requirement); the wait for the replica is bounded here, by `deadline` (fixed when
    /// the write started).
    func appendAndWait(_ event: Event, condition: AppendCondition?, deadline: Duration) async throws
        -> AppendAck
    {
        let ack = try await log.append(event, condition: condition)
        // A log in this process: the write is applied on this task when no other is applying.
        follower.applyOwnAppend()
        try await waitForReplica(ack.sequence, deadline: deadline)
        return ack
    }
}
