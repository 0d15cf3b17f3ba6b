import Foundation
import Logging

extension Eventbase {
    /// Deletes `key`.
    ///
    /// A key that this instance's replica does not hold is not written at all: the call returns
    /// `existed: false` and a `nil` revision. (A key that another instance has just written may not
    /// have reached this replica yet: read it with ``Consistency/atLeast(_:)`` first to be sure.)
    /// - Returns: How many of the key's events were purged, whether it existed locally, and the
    ///   delete's revision.
    /// - Throws: `.invalidKey`; `.timeout` and `.unavailable` when the outcome is unknown (only a
    ///   retry with ``delete(_:idempotencyKey:)`` is safe); `.closed`; `.streamDeleted`.
    @discardableResult
    public func delete(_ key: String) async throws -> DeleteResult {
        try await remove(key, eventID: nil)
    }

    /// Deletes `key`, so that repeating the call is safe.
    ///
    /// Repeated with the same `idempotencyKey` within the stream's duplicate window, by this
    /// instance or any other, the call writes nothing new and returns the first call's revision
    /// (with `existed: true`), also when the first call ended in `.timeout` or `.unavailable`. Unlike
    /// ``delete(_:)``, it writes the delete even when this replica does not hold the key, since a
    /// first attempt may already have removed it.
    /// - Throws: `.invalidArgument` for an empty or over-long idempotency key; otherwise as ``delete(_:)``.
    @discardableResult
    public func delete(_ key: String, idempotencyKey: String) async throws -> DeleteResult {
        try IdempotencyKeys.validate(idempotencyKey)
        return try await remove(
            key, eventID: IdempotencyKeys.eventID(operation: "delete", key: key, idempotencyKey: idempotencyKey))
    }

    /// Deletes `key` only if its current revision is `expectedRevision` (its ``Meta/revision``).
    ///
    /// The condition is checked against this replica at a known log position, and the delete is
    /// appended only if nothing was appended to the stream since (the server checks it), so every
    /// replica agrees on it. When other writes keep arriving, the check is made again at the new
    /// position, until ``EventbaseOptions/writeTimeout``.
    /// - Returns: As ``delete(_:)``, with `existed: true`.
    /// - Throws: `.conflict` when the key does not exist or has another revision (nothing was
    ///   written); otherwise as ``delete(_:)``.
    @discardableResult
    public func delete(_ key: String, expectedRevision: UInt64) async throws -> DeleteResult {
        try await remove(key, eventID: nil, expectedRevision: expectedRevision)
    }

    /// Reads the record under `key`, lets `transform` compute its replacement, and stores it only
    /// if nobody wrote the key meanwhile; retries with the newer record when someone did.
    ///
    /// ```swift
    /// let counter = try await eventbase.update("visits") { current in
    ///     let count = current?.data["count"]?.intValue ?? 0
    ///     return ["count": .number(Double(count + 1))]
    /// }
    /// ```
    /// - Parameters:
    ///   - key: The key.
    ///   - maxAttempts: How many times to try before giving up with `.conflict` (at least 1).
    ///   - transform: Given the current record (`nil`: none), returns the new document, or `nil` to
    ///     delete the key. It may run several times; it must not have side effects.
    /// - Returns: The record stored, or `nil` when the key was deleted (or stayed absent).
    /// - Throws: `.conflict` after `maxAttempts` lost races; `.invalidArgument` for `maxAttempts`
    ///   below 1; what `transform` throws; otherwise as ``put(_:_:expectedRevision:)-(String,JSONValue,_)``.
    @discardableResult
    public func update(
        _ key: String, maxAttempts: Int = 10, _ transform: (Record<JSONValue>?) throws -> JSONValue?
    ) async throws -> Record<JSONValue>? {
        guard maxAttempts >= 1 else {
            throw EventbaseError(.invalidArgument, "update needs at least one attempt; maxAttempts is \(maxAttempts).")
        }
        var attempt = 1
        while true {
            // After a lost race, read what the winner wrote.
            let current = try await get(key, consistency: attempt == 1 ? .local : .latest)
            let next = try transform(current)
            do {
                switch (current, next) {
                case (nil, nil):
                    return nil
                case (let current?, nil):
                    _ = try await delete(key, expectedRevision: current.meta.revision)
                    return nil
                case (_, let next?):
                    return try await put(key, next, expectedRevision: current?.meta.revision)
                }
            } catch let error as EventbaseError where error.code == .conflict && attempt < maxAttempts {
                attempt += 1
            }
        }
    }

    /// Deletes `key` with the event id `eventID`, or, without one, only when the replica holds it;
    /// with `expectedRevision`, only when that is the key's revision at the log's last sequence.
    func remove(_ key: String, eventID: String?, expectedRevision: UInt64? = nil) async throws
        -> DeleteResult
    {
        let started = try beginWrite()
        defer { endWrite() }
        try NameRules.validateKey(key, stream: streamName)
        let deadline = elapsed.now() + configuration.options.writeTimeout
        let existed = store.meta(forKey: key) != nil
        let earlierMarker = replica.latestDelete(of: key) != nil
        guard existed || eventID != nil || expectedRevision != nil else {
            stats.record(.delete, started: started, id: key)
            return DeleteResult(purged: 0, existed: false, revision: nil)
        }
        let event = Event(
            kind: .delete, key: key, timestamp: started.millisecondsSince1970, eventID: eventID ?? EventIDs.next())
        let ack: AppendAck
        if let expectedRevision {
            ack = try await appendIfUnchanged(event, expectedRevision: expectedRevision, deadline: deadline)
        } else {
            ack = try await appendAndWait(event, condition: nil, deadline: deadline)
        }
        var purged = 0
        if configuration.options.retention == .latestPut {
            do {
                purged = try await log.purgePuts(of: key, before: ack.sequence)
                if earlierMarker { purged += try await log.purgeDeletes(of: key, before: ack.sequence) }
            } catch {
                logger.warning("Purging a deleted key's events failed", metadata: ["error": "\(error)"])
            }
            if let retention = configuration.options.deleteMarkerRetention {
                maintenance.compact(key, at: ack.sequence, due: elapsed.now() + retention)
            }
        }
        stats.record(.delete, started: started, id: key)
        // A repeat of an earlier delete: that one was written, so the key existed then.
        return DeleteResult(purged: purged, existed: existed || ack.duplicate, revision: ack.sequence)
    }

    /// Appends `event` (a delete) only while the key's revision is `expectedRevision` at the log's
    /// last sequence: checked at the position this replica has applied, and appended with that
    /// position as the stream's expected last sequence; checked again at the new position when
    /// something was appended meanwhile.
    func appendIfUnchanged(_ event: Event, expectedRevision: UInt64, deadline: Duration) async throws
        -> AppendAck
    {
        if replica.appliedSequence < expectedRevision {
            try await catchUp(toRevision: expectedRevision, of: event.key, deadline: deadline)
        }
        var attempt = event
        while true {
            let (position, existing) = replica.atPosition { ($0, store.meta(forKey: event.key)) }
            try Self.check(.revision(expectedRevision), key: event.key, existing: existing)
            do {
                return try await appendAndWait(attempt, condition: .lastSequence(position), deadline: deadline)
            } catch let error as EventbaseError where error.code == .conflict {
                // Something was appended since: judge again once this replica has applied it, and
                // send under a new id (a server may still hold the refused copy's id as in process).
                try await waitForReplica(position + 1, deadline: deadline)
                attempt.eventID = EventIDs.next()
            }
        }
    }

    /// The record that the put stored at `sequence` folded to, read back from the log; `nil` when
    /// the log no longer holds it or cannot read single entries.
    func storedRecord(at sequence: UInt64, key: String) async throws -> Record<JSONValue>? {
        let entry = try await withDeadline(
            configuration.options.writeTimeout, clock: configuration.clock, "Reading entry \(sequence)"
        ) { [log] in
            try await log.entry(atSequence: sequence)
        }
        guard let entry, case .event(let event) = entry.payload, event.key == key, event.kind == .put else {
            return nil
        }
        return Replica.fold(oldMeta: nil, event: event, entry: entry)
    }
}
