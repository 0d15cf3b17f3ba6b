import EventbaseCore

/// An error the JetStream API returned: `{"error":{"code":…,"err_code":…,"description":…}}`.
///
/// The adapters wrap it as the ``EventbaseError/cause`` of an ``EventbaseError`` whose code says what
/// to do: `.conflict` for a wrong expected sequence (10071, 10164), `.streamNotFound` (10059),
/// `.unavailable` when JetStream is not enabled (10039, 10076) or temporarily unavailable (503),
/// `.limitExceeded` for resource limits, `.permissionDenied` (403), `.serverError` otherwise.
public struct JetStreamAPIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP-like status code (400, 404, 503, …).
    public var code: Int
    /// The JetStream error code (`err_code`, such as 10071), when the server sent one.
    public var errorCode: Int?
    /// The server's description.
    public var description: String

    /// Creates an API error.
    public init(code: Int, errorCode: Int?, description: String) {
        self.code = code
        self.errorCode = errorCode
        self.description = description
    }

    /// Reads an API error from a response's `error` object.
    init(json: JSONValue) {
        self.init(
            code: json["code"]?.intValue ?? 0,
            errorCode: json["err_code"]?.intValue,
            description: json["description"]?.stringValue ?? "unknown JetStream error"
        )
    }

    /// Well-known JetStream error codes.
    enum Known {
        static let streamNotFound = 10059
        static let streamNameInUse = 10058
        static let wrongLastSequence = 10071
        static let wrongLastSequenceConstant = 10164
        static let noMessageFound = 10037
        static let notEnabled = 10076
        static let notEnabledForAccount = 10039
        static let consumerNotFound = 10014
        static let messageTooLarge = 10054
        static let insufficientResources = 10023
        static let accountResourcesExceeded = 10002
        static let storageResourcesExceeded = 10047
        static let memoryResourcesExceeded = 10028
        static let maximumStreams = 10027
        static let maximumConsumers = 10026
        static let streamLimits = 10053
        /// A copy with the same `Nats-Msg-Id` is still being stored (replicated streams).
        static let duplicateInProcess = 10158
        /// The stream's ingest queue is full: the message was not stored.
        static let tooManyRequests = 10167
    }

    /// This error as an ``EventbaseError`` for `operation` (what was attempted, for the message).
    func eventbaseError(_ operation: String) -> EventbaseError {
        let detail = "JetStream error \(errorCode.map(String.init) ?? String(code)): \(description)"
        switch errorCode {
        case Known.wrongLastSequence?, Known.wrongLastSequenceConstant?:
            return EventbaseError(
                .conflict, "\(operation) was rejected: \(detail). Someone else wrote first; read again and retry.",
                cause: self)
        case Known.streamNotFound?:
            return EventbaseError(.streamNotFound, "\(operation) failed: \(detail).", cause: self)
        case Known.notEnabled?, Known.notEnabledForAccount?:
            return EventbaseError(
                .unavailable,
                "\(operation) failed: \(detail). Enable JetStream on the server (nats-server -js) and for the account.",
                cause: self)
        case Known.messageTooLarge?, Known.insufficientResources?, Known.accountResourcesExceeded?,
            Known.storageResourcesExceeded?, Known.memoryResourcesExceeded?, Known.maximumStreams?,
            Known.maximumConsumers?, Known.streamLimits?:
            return EventbaseError(
                .limitExceeded, "\(operation) failed: \(detail). Raise the server's limits or store less.", cause: self
            )
        case Known.tooManyRequests?:
            return EventbaseError(
                .unavailable,
                "\(operation) failed: \(detail). The server is overloaded and stored nothing; retry shortly.",
                cause: self)
        case Known.streamNameInUse?:
            return EventbaseError(
                .conflict, "\(operation) failed: \(detail). A stream of that name exists with another configuration.",
                cause: self)
        default:
            switch code {
            case 503:
                return EventbaseError(
                    .unavailable, "\(operation) failed: \(detail). JetStream is not ready; retry shortly.", cause: self)
            case 403:
                return EventbaseError(
                    .permissionDenied, "\(operation) was refused: \(detail). Check the user's permissions.",
                    cause: self)
            case 404 where errorCode == nil:
                return EventbaseError(.streamNotFound, "\(operation) failed: \(detail).", cause: self)
            default:
                return EventbaseError(.serverError, "\(operation) failed: \(detail).", cause: self)
            }
        }
    }
}
