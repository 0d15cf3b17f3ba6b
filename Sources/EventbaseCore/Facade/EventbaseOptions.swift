/// Tuning for an ``Eventbase`` instance. The defaults suit most applications.
public struct EventbaseOptions: Sendable {
    /// How long a write may take, from append to being applied locally, before it fails with `.timeout`.
    public var writeTimeout: Duration = .seconds(5)
    /// How long a read at ``Consistency/latest`` or ``Consistency/atLeast(_:)`` may wait (to learn the
    /// stream's last sequence, and for this replica to apply it) before it fails with `.timeout`.
    public var readTimeout: Duration = .seconds(5)
    /// How long opening may take (connecting, creating the stream, catching up) before it fails with `.timeout`.
    public var openTimeout: Duration = .seconds(30)
    /// What the log keeps of a key's history.
    public var retention: Retention = .latestPut
    /// How many stats may wait for the stats sink before new ones are dropped.
    public var statsBufferSize: Int = 10_000
    /// How long the stats sink may take to record one batch before the batch is dropped.
    public var statsTimeout: Duration = .seconds(5)
    /// How many un-purged keys may wait for a background purge before purges are skipped.
    public var purgeBufferSize: Int = 10_000
    /// How many changes a `changes(matching:)` or `liveQuery` consumer may fall behind before its
    /// sequence ends with `.slowConsumer`.
    public var changeBufferSize: Int = 10_000
    /// How many fields may get an automatic equality index. The first query with an equality
    /// (`{"city": "Oslo"}`) or small `$in` condition on a field builds one, and the replica keeps it
    /// up to date; later such queries visit only the matching records. `0` turns indexes off.
    public var maxAutomaticIndexes: Int = 8
    /// Limits on queries.
    public var queryLimits: QueryLimits = .default
    /// Limits on the JSON of documents: `put` rejects a document nested deeper than
    /// `maxDepth - 1` (the event around it adds a level), or than the defaults replicas read with.
    public var jsonLimits: JSONLimits = .default
    /// How long to wait before following the log again after it failed (doubling up to 30 seconds).
    public var retryDelay: Duration = .milliseconds(250)

    /// How long a key's delete marker (the delete event left in the stream) is kept once it is the
    /// key's last event, before the instance that wrote the delete removes it (with
    /// ``Retention/latestPut``); a later write of the key removes it at once. A replica whose newest
    /// applied entry is older than this when it opens rebuilds from the stream, since deletes it never
    /// saw may be gone, and so does a running replica that has not known it was caught up for as long
    /// (it probes the stream's last sequence every quarter of this, at most every minute). `nil` keeps
    /// markers. Default 30 minutes, as NATS KV.
    public var deleteMarkerRetention: Duration? = .seconds(1800)

    /// Creates the default options.
    public init() {}

    /// What the log keeps of a key's history.
    public enum Retention: Sendable, Hashable {
        /// After each put, older puts of the key are purged in the background, and a delete purges
        /// them all, as eventbase v3 does. The stream stays as small as the data. A put that creates a
        /// key skips the purge (one request to the server fewer) when its event lands right after what
        /// the replica had applied, so no earlier put of the key can be left.
        case latestPut
        /// Nothing is purged: the stream keeps every event (a full audit history).
        case everything
    }
}
