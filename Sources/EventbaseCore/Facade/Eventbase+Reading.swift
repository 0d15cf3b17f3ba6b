import Foundation

extension Eventbase {
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
    func settle(_ consistency: Consistency) async throws {
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

    func waitTimedOut(_ target: UInt64) -> EventbaseError {
        EventbaseError(
            .timeout,
            "The replica of stream \(streamName) did not reach revision \(target) within \(configuration.options.readTimeout) (it has applied \(replica.appliedSequence)); check the server and the revision, then retry."
        )
    }

    func candidates(for query: Query) -> [(key: String, record: StoredRecord)]? {
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
}
