import Foundation

extension Eventbase {
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
    func subscribeStream<Element: Sendable>(
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
}
