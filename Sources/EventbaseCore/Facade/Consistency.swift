/// What a read must have seen before it answers.
///
/// Every read is answered by this instance's replica. By default (``local``) it answers at once
/// with what the replica has applied, which includes every write this instance has returned from.
/// A write made through *another* instance may not have reached it yet; the other consistencies
/// wait for it:
///
/// ```swift
/// // Instance A, behind one load balancer:
/// let stored = try await a.put("user:1", ["name": "Ada"])
/// // Instance B, given the revision A returned (in a header, a cookie, a redirect):
/// let user = try await b.get("user:1", consistency: .atLeast(stored.meta.revision))
/// ```
///
/// A read that waits fails with `.timeout` after ``EventbaseOptions/readTimeout``; it never
/// answers from a replica that has not reached the required point.
public enum Consistency: Sendable, Hashable {
    /// Answer from what this replica has applied now (the default): no waiting, no network.
    case local
    /// First learn the stream's last sequence from the log (one request to the server), then wait
    /// until this replica has applied it: the read sees every write that was acknowledged before it
    /// began, through any instance.
    case latest
    /// Wait until this replica has applied at least this revision (for example the
    /// ``Meta/revision`` of a record another instance's write returned, or a
    /// ``DeleteResult/revision``).
    case atLeast(UInt64)
}
