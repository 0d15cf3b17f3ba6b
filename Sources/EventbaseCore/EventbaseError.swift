/// The one error type that Eventbase throws.
///
/// Branch on ``code``, never on ``message``: messages are for people and may change.
/// A missing key is never an error (reads return `nil`). The description never contains
/// stored values.
///
/// ```swift
/// do {
///     try await eventbase.put("user1", ["name": "Ann"])
/// } catch let error as EventbaseError where error.code == .timeout {
///     // retry later
/// }
/// ```
public struct EventbaseError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. New codes can be added without breaking a `switch`.
    public let code: Code
    /// What happened and what to do about it.
    public let message: String
    /// The underlying error that an adapter caught, if any (a NATS `-ERR`, a zlib status, an errno).
    public let cause: (any Error)?

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: What happened and what to do about it.
    ///   - cause: The underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause {
            return "EventbaseError.\(code): \(message) (cause: \(cause))"
        }
        return "EventbaseError.\(code): \(message)"
    }

    /// The kind of an ``EventbaseError``.
    ///
    /// A struct over a private enum, so new codes can be added without breaking anyone's `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case invalidArgument
            case invalidKey
            case invalidStreamName
            case invalidQuery
            case invalidJSON
            case limitExceeded
            case encodingFailed
            case decodingFailed
            case closed
            case timeout
            case unavailable
            case conflict
            case streamNotFound
            case streamDeleted
            case notReady
            case slowConsumer
            case permissionDenied
            case authenticationFailed
            case protocolError
            case noResponders
            case serverError
            case storageFailure
            case corruptData
            case unsupportedVersion
            case cancelled
            case internalError
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        public var description: String { value.rawValue }

        /// An argument is outside what the operation accepts (a negative limit, an empty path).
        public static let invalidArgument = Code(.invalidArgument)
        /// A key is empty or cannot be written as a subject within the server's limits.
        public static let invalidKey = Code(.invalidKey)
        /// A stream name is not one that NATS JetStream accepts.
        public static let invalidStreamName = Code(.invalidStreamName)
        /// A query is malformed: an unknown operator, a wrong operand type, an invalid regex.
        public static let invalidQuery = Code(.invalidQuery)
        /// Bytes are not valid JSON, or JSON does not have the expected shape.
        public static let invalidJSON = Code(.invalidJSON)
        /// Input is larger or deeper than a configured limit.
        public static let limitExceeded = Code(.limitExceeded)
        /// A value could not be encoded to JSON.
        public static let encodingFailed = Code(.encodingFailed)
        /// A stored document could not be decoded into the requested type.
        public static let decodingFailed = Code(.decodingFailed)
        /// The instance (or connection) was closed; create a new one.
        public static let closed = Code(.closed)
        /// An operation did not complete within its deadline. It may or may not have taken effect.
        public static let timeout = Code(.timeout)
        /// The server or backend cannot be reached right now.
        public static let unavailable = Code(.unavailable)
        /// An optimistic-concurrency check failed: someone else wrote first.
        public static let conflict = Code(.conflict)
        /// The stream does not exist.
        public static let streamNotFound = Code(.streamNotFound)
        /// The stream was deleted while this instance was using it.
        public static let streamDeleted = Code(.streamDeleted)
        /// The instance has not finished opening.
        public static let notReady = Code(.notReady)
        /// A consumer fell behind and its bounded buffer overflowed; events were not delivered to it.
        public static let slowConsumer = Code(.slowConsumer)
        /// The server refused the operation for lack of permission.
        public static let permissionDenied = Code(.permissionDenied)
        /// The server rejected the credentials.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The peer sent bytes that break the protocol.
        public static let protocolError = Code(.protocolError)
        /// A request had no responders on its subject.
        public static let noResponders = Code(.noResponders)
        /// The server answered with an error not covered by a more specific code.
        public static let serverError = Code(.serverError)
        /// Local storage failed (disk full, permissions, I/O error).
        public static let storageFailure = Code(.storageFailure)
        /// Stored or received data failed a checksum or structural check.
        public static let corruptData = Code(.corruptData)
        /// Data was written by a newer, unsupported format version.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The operation was cancelled.
        public static let cancelled = Code(.cancelled)
        /// A bug in Eventbase: please report it.
        public static let internalError = Code(.internalError)
    }
}

extension EventbaseError {
    static func closed(_ what: String = "This Eventbase instance") -> EventbaseError {
        EventbaseError(.closed, "\(what) is closed. Open a new instance to continue.")
    }
}
