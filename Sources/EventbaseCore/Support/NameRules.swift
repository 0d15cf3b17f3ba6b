/// Rules for stream names and keys, checked before anything is sent.
public enum NameRules {
    /// The longest stream name accepted, in UTF-8 bytes.
    public static let maxStreamNameBytes = 255

    /// The longest event subject accepted, in UTF-8 bytes.
    ///
    /// nats-server closes a connection whose protocol line exceeds 4,096 bytes. The longest line
    /// Eventbase sends for an event is `HPUB <subject> <reply inbox> <header size> <total size>\r\n`;
    /// keeping subjects at or below 3,072 bytes leaves room for the rest.
    public static let maxSubjectBytes = 3072

    /// Validates a stream name as NATS JetStream accepts it: not empty, at most 255 bytes, no
    /// whitespace or control characters, and none of `.`, `*`, `>`, `/`, `\`.
    /// - Throws: `.invalidStreamName` saying what is wrong.
    public static func validateStreamName(_ name: String) throws {
        guard !name.isEmpty else {
            throw EventbaseError(.invalidStreamName, "A stream name must not be empty.")
        }
        guard name.utf8.count <= maxStreamNameBytes else {
            throw EventbaseError(
                .invalidStreamName, "The stream name is longer than \(maxStreamNameBytes) bytes; shorten it.")
        }
        for scalar in name.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.value < 0x20 || scalar.value == 0x7F {
                throw EventbaseError(
                    .invalidStreamName, "The stream name \"\(name)\" contains whitespace or a control character.")
            }
            if ".*>/\\".unicodeScalars.contains(scalar) {
                throw EventbaseError(
                    .invalidStreamName,
                    "The stream name \"\(name)\" contains \"\(scalar)\"; stream names cannot contain . * > / or \\.")
            }
        }
    }

    /// The longest key accepted for a stream, in UTF-8 bytes (derived from ``maxSubjectBytes``).
    public static func maxKeyBytes(stream: String) -> Int {
        let budget = maxSubjectBytes - stream.utf8.count - 1 - "-delete".utf8.count
        return max(0, budget / 4 * 3)
    }

    /// Validates a key: not empty, and short enough that its subject fits ``maxSubjectBytes``.
    /// Every other string (unicode, `.`, `*`, `>`, spaces, newlines, NUL) is a valid key.
    /// - Throws: `.invalidKey` saying what is wrong.
    public static func validateKey(_ key: String, stream: String) throws {
        guard !key.isEmpty else {
            throw EventbaseError(.invalidKey, "A key must not be empty.")
        }
        let limit = maxKeyBytes(stream: stream)
        guard key.utf8.count <= limit else {
            throw EventbaseError(
                .invalidKey,
                "The key is \(key.utf8.count) bytes; keys of stream \"\(stream)\" may have at most \(limit) UTF-8 bytes."
            )
        }
    }
}
