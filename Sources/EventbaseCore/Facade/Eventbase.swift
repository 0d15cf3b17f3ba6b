public import Foundation
import Logging
import Synchronization

/// A distributed, event-sourced key-value database on one stream.
///
/// Every write is an event appended to the stream's log; this instance keeps a local replica that
/// follows the log in order, so reads, queries and live subscriptions are local and fast, and every
/// instance on the same stream converges on the same state. A write returns once *this* instance's
/// replica has applied it, so a caller always reads its own writes.
///
/// `Eventbase` is a reference type, safe to share across tasks. Open one with
/// `Eventbase.builder(streamName:)` and close it with ``close()``.
public final class Eventbase: Sendable {
    struct Configuration: Sendable {
        let streamName: String
        let eventLog: any EventLog
        let stateStore: any StateStore
        let statsSink: (any StatsSink)?
        let transport: (any Transport)?
        let onMessage: (@Sendable (LogEntry) throws -> Void)?
        let clock: any Clock<Duration>
        let now: @Sendable () -> Date
        let logger: Logger
        let options: EventbaseOptions
        let instanceID: String
        let companions: [@Sendable (Eventbase) async -> Void]
    }

    /// The stream this instance follows.
    public let streamName: String
    /// Identifies this instance in logs and metrics (`eventbase.instance` in log metadata): a new
    /// random value per ``EventbaseBuilder/build()``.
    public let instanceID: String
    let configuration: Configuration
    let replica: Replica
    private let lifecycle: Mutex<InstanceLifecycle<CheckedContinuation<Void, Never>>>
    private let elapsed: ElapsedClock
    /// Stats of operations, for the stats sink.
    private let stats: StatsRecorder
    /// Follows the log into the replica.
    private let follower: LogFollower
    /// Purges and marker compactions in the background.
    private let maintenance: LogMaintenance
    private var logger: Logger { configuration.logger }
    private var log: any EventLog { configuration.eventLog }
    private var store: any StateStore { configuration.stateStore }

    private init(configuration: Configuration, replica: Replica, identity: consuming StreamIdentity) {
        self.streamName = configuration.streamName
        self.instanceID = configuration.instanceID
        self.configuration = configuration
        self.replica = replica
        self.lifecycle = Mutex(InstanceLifecycle(lastAccessed: configuration.now()))
        let elapsed = ElapsedClock(configuration.clock)
        self.elapsed = elapsed
        let stats = StatsRecorder(
            sink: configuration.statsSink, capacity: configuration.options.statsBufferSize,
            timeout: configuration.options.statsTimeout, clock: configuration.clock, now: configuration.now,
            logger: configuration.logger)
        self.stats = stats
        self.follower = LogFollower(
            log: configuration.eventLog, replica: replica, identity: identity, stats: stats,
            options: configuration.options, clock: configuration.clock, elapsed: elapsed, now: configuration.now,
            logger: configuration.logger)
        self.maintenance = LogMaintenance(
            log: configuration.eventLog, store: configuration.stateStore, replica: replica,
            capacity: configuration.options.purgeBufferSize, clock: configuration.clock, elapsed: elapsed,
            logger: configuration.logger)
    }

    // MARK: Opening

    /// Opens an instance: connects, opens the log and the store, and catches up with the log.
    /// - Parameter starting: Whether the instance runs its background work in a task of its own
    ///   (which also catches up); otherwise it catches up on this task and ``run()`` runs it.
    static func open(_ configuration: Configuration, starting: Bool) async throws -> Eventbase {
        let logger = configuration.logger
        do {
            return try await withDeadline(
                configuration.options.openTimeout, clock: configuration.clock,
                "Opening stream \(configuration.streamName)"
            ) {
                try await openUnbounded(configuration, starting: starting)
            }
        } catch {
            logger.error("Opening failed", metadata: ["error": "\(error)"])
            await configuration.eventLog.close()
            try? await configuration.stateStore.close()
            await configuration.statsSink?.close()
            await configuration.transport?.close()
            throw error
        }
    }

    private static func openUnbounded(_ configuration: Configuration, starting: Bool) async throws -> Eventbase {
        if let transport = configuration.transport {
            try await transport.connect()
        }
        let logState = try await configuration.eventLog.open()
        let checkpoint = try await configuration.stateStore.open(stream: configuration.streamName)
        if checkpoint.identity != logState.identity || checkpoint.lastAppliedSequence > logState.lastSequence {
            if checkpoint.lastAppliedSequence > 0 {
                configuration.logger.warning(
                    "The stream was recreated since the local replica was saved; rebuilding it from the log",
                    metadata: [
                        "checkpoint": "\(checkpoint.lastAppliedSequence)", "lastSequence": "\(logState.lastSequence)",
                    ])
            }
            try configuration.stateStore.reset(identity: logState.identity)
        } else if await outlivesMarkerRetention(configuration, checkpoint, logState) {
            try configuration.stateStore.reset(identity: logState.identity)
        }
        reserveForReplay(configuration, logState)
        if let sink = configuration.statsSink {
            do {
                try await sink.open()
            } catch {
                configuration.logger.warning(
                    "The stats sink failed to open; stats will be dropped", metadata: ["error": "\(error)"])
            }
        }
        let replica = Replica(
            store: configuration.stateStore,
            streamName: configuration.streamName,
            logger: configuration.logger,
            onMessage: configuration.onMessage
        )
        let eventbase = Eventbase(configuration: configuration, replica: replica, identity: logState.identity)
        do {
            if starting {
                eventbase.start()
                try await replica.waitUntilApplied(logState.lastSequence)
            } else {
                try await eventbase.follower.catchUp(to: logState.lastSequence)
            }
        } catch {
            await eventbase.shutDown()
            throw error
        }
        configuration.logger.debug("Opened", metadata: ["lastSequence": "\(logState.lastSequence)"])
        return eventbase
    }

    /// Whether the replica's checkpoint is older than the delete marker retention (nine tenths of
    /// it, a margin for clocks that differ) while the log has moved on: delete markers may have been
    /// removed from the stream meanwhile, and the replica would keep records whose deletes it never
    /// sees (it must rebuild). A checkpoint that does not say how old it is (a store that keeps no
    /// time) is dated by the log's entry at its sequence; one the log no longer holds is taken as too old.
    private static func outlivesMarkerRetention(
        _ configuration: Configuration, _ checkpoint: StoreCheckpoint, _ logState: LogState
    ) async -> Bool {
        guard let retention = configuration.options.deleteMarkerRetention, checkpoint.lastAppliedSequence > 0,
            checkpoint.lastAppliedSequence < logState.lastSequence
        else { return false }
        var time = checkpoint.lastAppliedTime
        if time == nil {
            time = try? await configuration.eventLog.entry(atSequence: checkpoint.lastAppliedSequence)?.time
        }
        if let time, configuration.now().timeIntervalSince(time) <= retention.timeInterval * 0.9 { return false }
        configuration.logger.warning(
            "The local replica is older than the delete marker retention; rebuilding it from the log",
            metadata: [
                "checkpoint": "\(checkpoint.lastAppliedSequence)",
                "checkpointTime": "\(time.map { "\($0)" } ?? "unknown")",
            ])
        return true
    }

    /// The most records ``reserveForReplay(_:_:)`` makes room for: a wrong guess (a stream of
    /// deletes, say) costs at most a table of this size.
    static let replayReservationLimit: UInt64 = 4 << 20

    /// Before a replay into an empty store, tells the store how many records to expect, so that it
    /// makes room once instead of growing its tables step by step (rehashing every record so far at
    /// each step). With the default retention the stream holds about one message a key (older puts
    /// are purged), so its message count is the guess; a stream that keeps every event says
    /// nothing about how many keys it has.
    private static func reserveForReplay(_ configuration: Configuration, _ logState: LogState) {
        let store = configuration.stateStore
        guard configuration.options.retention == .latestPut, store.count == 0, logState.messageCount > 1 else {
            return
        }
        store.reserveCapacity(Int(min(logState.messageCount, replayReservationLimit)))
    }

    private func start() {
        lifecycle.withLock { $0.startedOwnTask() }
        // The instance's own task: ``run()`` and the scoped builders run this work in the caller's.
        Task { [self] in
            await runBackground()
            backgroundEnded()
        }
    }

    /// Runs the instance's background work on the calling task, and returns once the instance has
    /// closed.
    ///
    /// An instance from ``EventbaseBuilder/buildUnstarted()`` needs this to follow the log (until it
    /// runs, its replica does not move and writes wait for it), purge, record stats and run its
    /// companions: call it from a task group, or let `EventbaseService` run it in a service group.
    /// An instance from ``EventbaseBuilder/build()`` runs its background work in a task of its own:
    /// then this only waits until the instance has closed.
    ///
    /// Cancelling the calling task closes the instance (as ``close()``).
    public func run() async {
        var action = InstanceLifecycle<CheckedContinuation<Void, Never>>.RunAction.closed
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            action = lifecycle.withLock { $0.run(continuation) }
            switch action {
            case .run, .closed, .wait(ended: true): continuation.resume()
            case .wait(ended: false): break
            }
        }
        guard case .run = action else { return }
        await withTaskCancellationHandler {
            await runBackground()
        } onCancel: {
            stopBackground()
        }
        backgroundEnded()
        if Task.isCancelled { await close() }
    }

    /// Marks the background work as ended and wakes whoever waits for that.
    private func backgroundEnded() {
        for waiter in lifecycle.withLock({ $0.backgroundEnded() }) { waiter.resume() }
    }

    /// Tells the background loops to end: the replica refuses further writes, the queues finish.
    private func stopBackground() {
        replica.fail(EventbaseError.closed())
        replica.deadlineAdded.finish()
        stats.finish()
        maintenance.finish()
    }

    /// The instance's background work: following the log, draining stats and purges, and the
    /// companions given to ``EventbaseBuilder/companion(_:)``.
    private func runBackground() async {
        await withTaskGroup(of: Void.self) { timers in
            // Deadlines sleep on the clock; they are cancelled once the other loops have ended.
            timers.addTask { await self.follower.expireDeadlines(streamName: self.streamName) }
            // Delete markers wait for their retention on the clock; pending ones are dropped on close.
            timers.addTask { await self.maintenance.runCompactions() }
            // Probes of the log's end, which tell the replica it is fresh (see `ReplicaFreshness`).
            timers.addTask { await self.follower.probeFreshness() }
            // Companions (such as a metrics poller) run until the instance closes; they are
            // cancelled with the deadline loop.
            for companion in self.configuration.companions {
                timers.addTask { await companion(self) }
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.follower.run() }
                group.addTask { await self.stats.run() }
                group.addTask { await self.maintenance.runPurges() }
            }
            timers.cancelAll()
        }
    }

    // MARK: State

    /// When an operation last used this instance (for the manager's keep-alive).
    public var lastAccessed: Date { lifecycle.withLock { $0.lastAccessed } }

    /// How many live subscriptions and change sequences are active.
    public var activeSubscriptionCount: Int { replica.subscriberCount }

    /// The last log sequence the local replica has applied.
    public var appliedSequence: UInt64 { replica.appliedSequence }

    /// How many log entries were skipped because they were not valid events (the sum of
    /// ``invalidEntryCounts``).
    public var invalidEntryCount: Int { replica.invalidEntryCount }

    /// How many log entries were skipped because they were not valid events, per kind of problem.
    ///
    /// Every replica of a stream skips the same entries for the same reasons, so these counts agree
    /// between instances that have applied the same sequence. Kinds never seen are absent. Each
    /// skipped entry is also logged as a warning (sequence, kind, subject; never the payload) and
    /// recorded as a ``Stat/Operation/skipInvalid`` stat.
    public var invalidEntryCounts: [InvalidEntryKind: Int] { replica.invalidEntryCounts }

    /// How many stats were dropped because the stats buffer was full.
    public var droppedStatsCount: Int { stats.droppedCount }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { lifecycle.withLock { $0.isClosed } }

    /// Marks the instance as used at `now`.
    func touch(_ now: Date) {
        lifecycle.withLock { $0.touch(now) }
    }

    /// Why the instance stopped (its stream was deleted, its store failed, …), or `nil` while it works.
    var failure: EventbaseError? { replica.failure }

    private func begin() throws -> Date {
        let now = configuration.now()
        guard lifecycle.withLock({ $0.beginRead(at: now) }) else { throw EventbaseError.closed() }
        if let failure = replica.failure { throw failure }
        return now
    }

    /// Starts a write: refused once closing or draining began; counted until ``endWrite()``.
    private func beginWrite() throws -> Date {
        let now = configuration.now()
        guard lifecycle.withLock({ $0.beginWrite(at: now) }) else { throw EventbaseError.closed() }
        if let failure = replica.failure {
            endWrite()
            throw failure
        }
        return now
    }

    private func endWrite() {
        for waiter in lifecycle.withLock({ $0.endWrite() }) { waiter.resume() }
    }

    // MARK: Writing

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
    private func write(
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
    private func firstWrite(of key: String, eventID: String, revision: UInt64?) async throws -> Record<JSONValue>? {
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
    private func catchUp(toRevision revision: UInt64, of key: String, deadline: Duration) async throws {
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
    private static func check(_ expectation: Event.Expectation, key: String, existing: Meta?) throws {
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
    private func waitForReplica(_ sequence: UInt64, deadline: Duration) async throws {
        guard !lifecycle.withLock({ $0.backgroundRunning }) else {
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
    private func appendAndWait(_ event: Event, condition: AppendCondition?, deadline: Duration) async throws
        -> AppendAck
    {
        let ack = try await log.append(event, condition: condition)
        // A log in this process: the write is applied on this task when no other is applying.
        follower.applyOwnAppend()
        try await waitForReplica(ack.sequence, deadline: deadline)
        return ack
    }

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
    private func remove(_ key: String, eventID: String?, expectedRevision: UInt64? = nil) async throws
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
    private func appendIfUnchanged(_ event: Event, expectedRevision: UInt64, deadline: Duration) async throws
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
    private func storedRecord(at sequence: UInt64, key: String) async throws -> Record<JSONValue>? {
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

    // MARK: Reading

    /// The record stored under `key`, or `nil`. Reads the local replica: with the default
    /// consistency, no network and no waiting.
    /// - Parameters:
    ///   - key: The key.
    ///   - consistency: What the replica must have applied first (see ``Consistency``).
    /// - Throws: `.timeout` when the replica does not reach `consistency` within
    ///   ``EventbaseOptions/readTimeout``; `.closed`, `.streamDeleted`.
    public func get(_ key: String, consistency: Consistency = .local) async throws -> Record<JSONValue>? {
        let started = try begin()
        try await settle(consistency)
        let found = store.record(forKey: key)
        stats.record(.get, started: started, id: key)
        return found
    }

    /// The record stored under `key`, decoded as `type`, or `nil`.
    /// - Throws: `.decodingFailed` when the document does not decode as `type`; otherwise as
    ///   ``get(_:consistency:)``.
    public func get<Value: Decodable & Sendable>(
        _ key: String, as type: Value.Type, consistency: Consistency = .local
    ) async throws -> Record<Value>? {
        guard let found = try await get(key, consistency: consistency) else { return nil }
        return Record(key: found.key, data: try JSONValueDecoder().decode(type, from: found.data), meta: found.meta)
    }

    /// The keys matching a regular expression (JavaScript syntax), sorted.
    /// - Parameter pattern: A regex matched anywhere in the key (anchor it with `^…$` for whole keys).
    ///   `nil` returns every key.
    ///   - consistency: What the replica must have applied first (see ``Consistency``).
    /// - Throws: `.invalidQuery` for an invalid pattern; `.limitExceeded` for an over-long one;
    ///   `.timeout` (see ``get(_:consistency:)``); `.closed`.
    public func keys(_ pattern: String? = nil, consistency: Consistency = .local) async throws -> [String] {
        let started = try begin()
        try await settle(consistency)
        let matcher = try pattern.map {
            try QueryParser(limits: configuration.options.queryLimits).makePattern($0, flags: "")
        }
        var keys: [String] = []
        var visited = 0
        try store.forEachKey { key in
            visited &+= 1
            if visited & 1023 == 0, Task.isCancelled { throw CancellationError() }
            if matcher?.matches(key) ?? true { keys.append(key) }
        }
        keys.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        stats.record(.keys, started: started, pattern: pattern)
        return keys
    }

    /// The documents matching `query`, shaped by `options`.
    /// - Parameters:
    ///   - query: A query object (see ``Query``).
    ///   - options: Sort, limit, offset and projection.
    ///   - consistency: What the replica must have applied first (see ``Consistency``).
    /// - Returns: The documents (each with its `id`).
    /// - Throws: `.invalidQuery`, `.limitExceeded`, `.invalidArgument` for bad options, `.timeout`
    ///   (see ``get(_:consistency:)``), `.closed`; `CancellationError` when the task is cancelled.
    public func query(
        _ query: JSONValue, options: QueryOptions = QueryOptions(), consistency: Consistency = .local
    ) async throws -> [JSONValue] {
        try await self.query(
            try Query(query, limits: configuration.options.queryLimits), options: options, consistency: consistency)
    }

    /// The documents matching a parsed query, shaped by `options`.
    public func query(
        _ query: Query, options: QueryOptions = QueryOptions(), consistency: Consistency = .local
    ) async throws -> [JSONValue] {
        let started = try begin()
        try options.validate()
        try await settle(consistency)
        let runner = QueryRunner(query: query, options: options)
        let documents: [JSONValue]
        if options.needsOrder {
            documents = try runner.run(over: store, candidates: candidates(for: query)).map {
                QueryRunner.project($0.record.data, paths: options.project)
            }
        } else {
            documents = try await runner.unorderedDocuments(over: store, candidates: candidates(for: query))
        }
        stats.record(.query, started: started, query: query.json, resultCount: documents.count)
        return documents
    }

    /// Waits until the replica has applied what `consistency` requires, within
    /// ``EventbaseOptions/readTimeout``.
    private func settle(_ consistency: Consistency) async throws {
        let target: UInt64
        let timeout = configuration.options.readTimeout
        let started = elapsed.now()
        switch consistency {
        case .local:
            return
        case .latest:
            // One request, bounded by the log's own deadline (a port requirement); a task for a
            // deadline of its own would cost more than the local read.
            target = try await log.latestSequence()
        case .atLeast(let revision):
            target = revision
        }
        if replica.appliedSequence >= target { return }
        let remaining = timeout - (elapsed.now() - started)
        guard remaining > .zero else { throw waitTimedOut(target) }
        do {
            try await withDeadline(remaining, clock: configuration.clock, "") { [replica] in
                try await replica.waitUntilApplied(target)
            }
        } catch let error as EventbaseError where error.code == .timeout {
            throw waitTimedOut(target)
        }
    }

    private func waitTimedOut(_ target: UInt64) -> EventbaseError {
        EventbaseError(
            .timeout,
            "The replica of stream \(streamName) did not reach revision \(target) within \(configuration.options.readTimeout) (it has applied \(replica.appliedSequence)); check the server and the revision, then retry."
        )
    }

    private func candidates(for query: Query) -> [(key: String, record: StoredRecord)]? {
        let limit = configuration.options.maxAutomaticIndexes
        return limit > 0 ? replica.candidates(for: query, maxIndexes: limit) : nil
    }

    /// The fields that have an automatic equality index (see ``EventbaseOptions/maxAutomaticIndexes``).
    public var indexedFields: [String] { replica.indexedFields }

    /// The documents matching `query`, decoded as `type`.
    /// - Throws: `.decodingFailed`, and what ``query(_:options:consistency:)-(JSONValue,_,_)`` throws.
    public func query<Value: Decodable>(
        _ query: JSONValue, as type: Value.Type, options: QueryOptions = QueryOptions(),
        consistency: Consistency = .local
    ) async throws -> [Value] {
        let decoder = JSONValueDecoder()
        return try await self.query(query, options: options, consistency: consistency).map {
            try decoder.decode(type, from: $0)
        }
    }

    /// The records (with meta) matching `query`, shaped by `options` (projection applies to `data`).
    public func records(
        matching query: JSONValue, options: QueryOptions = QueryOptions(), consistency: Consistency = .local
    ) async throws -> [Record<JSONValue>] {
        let started = try begin()
        let parsed = try Query(query, limits: configuration.options.queryLimits)
        try options.validate()
        try await settle(consistency)
        let matches = try QueryRunner(query: parsed, options: options).run(
            over: store, candidates: candidates(for: parsed))
        stats.record(.query, started: started, query: query, resultCount: matches.count)
        return matches.map {
            Record(key: $0.key, data: QueryRunner.project($0.record.data, paths: options.project), meta: $0.record.meta)
        }
    }

    /// How many documents match `query` (exact).
    /// - Throws: `.invalidQuery`, `.limitExceeded`, `.timeout` (see ``get(_:consistency:)``), `.closed`.
    public func count(_ query: JSONValue = [:], consistency: Consistency = .local) async throws -> Int {
        let started = try begin()
        let parsed = try Query(query, limits: configuration.options.queryLimits)
        try await settle(consistency)
        var count = 0
        if case .and(let nodes) = parsed.root, nodes.isEmpty {
            count = store.count
        } else {
            try QueryRunner.forEachMatch(of: parsed, in: store, candidates: candidates(for: parsed)) { _, _ in
                count += 1
            }
        }
        stats.record(.query, started: started, query: query, resultCount: count)
        return count
    }

    // MARK: Subscribing

    /// Calls `handler` for every change that makes a record enter, change within, or leave `query`,
    /// in log order, until the subscription is cancelled or the instance closes.
    ///
    /// ```swift
    /// let subscription = try await eventbase.subscribe(["age": ["$gte": 18]]) { key, data, meta, change in
    ///     print(change.kind, key)
    /// }
    /// subscription.cancel()
    /// ```
    /// The handler runs on the task that applied the change (the replication task, or on a log in
    /// this process a writer's), one change at a time and in log order: keep it short. A throwing
    /// handler is logged.
    /// - Throws: `.invalidQuery`, `.limitExceeded`, `.closed`.
    public func subscribe(_ query: JSONValue, _ handler: @escaping SubscriptionHandler) async throws -> Subscription {
        let started = try begin()
        let parsed = try Query(query, limits: configuration.options.queryLimits)
        // Without a stats sink there is nothing to record per notification: hand the handler over as it is.
        var emitHandler = handler
        if configuration.statsSink != nil {
            emitHandler = { [weak self] key, data, meta, change in
                self?.stats.record(.subscribeEmit, started: self?.configuration.now() ?? started, id: key, query: query)
                try handler(key, data, meta, change)
            }
        }
        let id = try replica.subscribe(parsed, sink: .handler(emitHandler))
        stats.record(.subscribe, started: started, query: query)
        let replica = self.replica
        return Subscription(id: id) { replica.unsubscribe(id) }
    }

    /// The changes to records matching `query`, from now on, as an `AsyncSequence`.
    ///
    /// ```swift
    /// for try await change in eventbase.changes(matching: ["type": "user"]) {
    ///     print(change.kind, change.key)
    /// }
    /// ```
    /// The subscription starts when this method returns, before iteration begins. Ending the
    /// iteration cancels it. A malformed query makes the first iteration throw `.invalidQuery`.
    public func changes(matching query: JSONValue) -> ChangeSequence {
        ChangeSequence(
            stream: subscribeStream(query, bufferingPolicy: .bufferingOldest(configuration.options.changeBufferSize)) {
                .changes($0)
            })
    }

    /// A live query: the records matching `query` now, then ``LiveQueryEvent/caughtUp``, then every
    /// change, with nothing missed or repeated in between.
    ///
    /// The matching records are taken when this method returns and decoded as they are iterated.
    /// Changes after them wait for the consumer in a buffer of
    /// ``EventbaseOptions/changeBufferSize``; past it the sequence ends with `.slowConsumer`. A
    /// malformed query makes the first iteration throw `.invalidQuery`.
    public func liveQuery(_ query: JSONValue) -> LiveQuerySequence {
        let (stream, continuation) = AsyncThrowingStream<Change, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(configuration.options.changeBufferSize))
        do {
            let started = try begin()
            let parsed = try Query(query, limits: configuration.options.queryLimits)
            let (id, records) = try replica.subscribe(parsed, sink: .liveQuery(continuation), snapshot: true)
            let replica = self.replica
            continuation.onTermination = { _ in replica.unsubscribe(id) }
            stats.record(.subscribe, started: started, query: query)
            return LiveQuerySequence(snapshot: records, stream: stream, failure: nil)
        } catch {
            continuation.finish()
            return LiveQuerySequence(snapshot: [], stream: stream, failure: error)
        }
    }

    /// Registers a stream subscriber; a failure finishes the stream with the error.
    private func subscribeStream<Element: Sendable>(
        _ query: JSONValue,
        bufferingPolicy: AsyncThrowingStream<Element, any Error>.Continuation.BufferingPolicy,
        sink: (AsyncThrowingStream<Element, any Error>.Continuation) -> Replica.Sink
    ) -> AsyncThrowingStream<Element, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Element, any Error>.makeStream(
            bufferingPolicy: bufferingPolicy)
        do {
            let started = try begin()
            let parsed = try Query(query, limits: configuration.options.queryLimits)
            let id = try replica.subscribe(parsed, sink: sink(continuation))
            let replica = self.replica
            continuation.onTermination = { _ in replica.unsubscribe(id) }
            stats.record(.subscribe, started: started, query: query)
        } catch {
            continuation.finish(throwing: error)
        }
        return stream
    }

    // MARK: Closing

    /// Closes the instance: pending writes fail with `.closed`, subscriptions end, background work
    /// stops (queued stats are flushed), and the ports are closed. Every later operation throws
    /// `.closed`. Idempotent; concurrent calls all return once closing has finished.
    public func close() async {
        await shutDown()
    }

    /// Closes the instance gracefully: new writes are refused with `.closed`, writes already in
    /// flight are allowed to finish (each is bounded by ``EventbaseOptions/writeTimeout``), then
    /// ``close()`` runs (a durable state store writes its final snapshot, the connection closes).
    ///
    /// Reads keep working until the close itself. This is what `EventbaseService` runs on a
    /// graceful shutdown.
    public func closeGracefully() async {
        let writes = lifecycle.withLock { $0.writesInFlight }
        if writes > 0 {
            logger.debug("Waiting for in-flight writes before closing", metadata: ["writes": "\(writes)"])
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            switch lifecycle.withLock({ $0.startDraining(continuation) }) {
            case .wait: break
            case .close: continuation.resume()
            }
        }
        await shutDown()
    }

    private func shutDown() async {
        var action = InstanceLifecycle<CheckedContinuation<Void, Never>>.CloseAction.done
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            action = lifecycle.withLock { $0.close(continuation) }
            switch action {
            case .shutDown, .done: continuation.resume()
            case .wait: break
            }
        }
        guard case .shutDown(let drainWaiters) = action else { return }
        for waiter in drainWaiters { waiter.resume() }
        logger.debug("Closing")
        stopBackground()
        // Purges still queued run before the log closes (each waits on the server at most its
        // request deadline; all of them together at most the write timeout), so the stream keeps
        // only the newest put of keys written just before the close.
        let timeout = configuration.options.writeTimeout
        let clock = configuration.clock
        if lifecycle.withLock({ $0.backgroundRunning }) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.maintenance.purgesDrained() }
                group.addTask { try? await clock.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
        }
        // Closing the log ends the follow loop; the stats loop ends once its queue is empty, so
        // queued stats are flushed.
        await configuration.eventLog.close()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            switch lifecycle.withLock({ $0.waitForBackground(continuation) }) {
            case .wait: break
            case .done: continuation.resume()
            }
        }
        do {
            try await store.close()
        } catch {
            logger.error("Closing the state store failed", metadata: ["error": "\(error)"])
        }
        await configuration.statsSink?.close()
        await configuration.transport?.close()
        for waiter in lifecycle.withLock({ $0.closed() }) { waiter.resume() }
        logger.debug("Closed")
    }

    /// Deletes the stream and this instance's local data, then closes. Other instances on the stream
    /// stop with `.streamDeleted`.
    /// - Throws: what the log throws when deleting; `.closed` if already closed.
    public func deleteStream() async throws {
        _ = try begin()
        try await log.destroy()
        try? store.reset(identity: StreamIdentity(name: streamName, created: nil))
        await close()
    }
}
