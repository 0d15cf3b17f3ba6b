extension Eventbase {
    /// A snapshot of this instance's health: applied and stream sequences, lag, skipped entries,
    /// dropped stats and the connection's state.
    ///
    /// Asks the log for its last sequence (a round trip to the server for a networked log),
    /// bounded by `timeout`; when that fails the snapshot still returns, with
    /// ``EventbaseHealth/streamLastSequence`` `nil` and ``EventbaseHealth/logError`` set. Never throws.
    /// - Parameter timeout: How long to wait for the log (default: 2 seconds).
    /// - Returns: The snapshot.
    public func health(timeout: Duration = .seconds(2)) async -> EventbaseHealth {
        let closed = isClosed
        var lastSequence: UInt64?
        var logError: EventbaseError.Code?
        if closed {
            logError = .closed
        } else {
            do {
                lastSequence = try await withDeadline(
                    timeout, clock: configuration.clock, "Reading the state of stream \(streamName)"
                ) { [configuration] in
                    try await configuration.eventLog.state().lastSequence
                }
            } catch {
                logError = (error as? EventbaseError)?.code ?? .unavailable
            }
        }
        return EventbaseHealth(
            streamName: streamName,
            instanceID: instanceID,
            appliedSequence: appliedSequence,
            streamLastSequence: lastSequence,
            logError: logError,
            invalidEntryCount: invalidEntryCount,
            droppedStatsCount: droppedStatsCount,
            activeSubscriptionCount: activeSubscriptionCount,
            connection: configuration.eventLog.connectionStatus,
            failure: replica.failure?.code,
            isClosed: closed
        )
    }
}
