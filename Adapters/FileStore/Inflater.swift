import CEventbaseZlib
import EventbaseCore

/// Streaming raw inflate: compressed chunks in, fixed-size chunks of output to a callback.
///
/// It never produces more than `limit` bytes: the caller's sink sees every chunk before the next
/// is produced, so a decompression bomb is stopped at the limit, not after it. Used on one thread.
final class Inflater {
    /// The size of the output buffer.
    static let bufferSize = 64 * 1024

    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutableRawBufferPointer
    private let limit: UInt64
    /// How many bytes were produced.
    private(set) var bytesOut: UInt64 = 0
    /// Whether the deflate stream ended.
    private(set) var finished = false

    /// Starts a raw inflate stream that fails once it would produce more than `limit` bytes.
    init(limit: UInt64) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = CEventbaseZlib_inflateInit2(stream, -15)
        guard status == Z_OK else {
            stream.deallocate()
            throw EventbaseError(.storageFailure, "zlib could not start decompressing (status \(status)).")
        }
        output = .allocate(byteCount: Self.bufferSize, alignment: 16)
        self.limit = limit
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    /// Decompresses `bytes`, handing each chunk of output to `sink`.
    /// - Throws: `.corruptData` for invalid deflate data, data after the end of the stream, or more
    ///   output than the limit; what `sink` throws.
    func inflate(_ bytes: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !bytes.isEmpty else { return }
        guard !finished else { throw EventbaseError(.corruptData, "Data follows the end of the compressed body.") }
        stream.pointee.next_in = UnsafeMutablePointer(
            mutating: bytes.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(bytes.count)
        while true {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(Self.bufferSize)
            let status = CEventbaseZlib.inflate(stream, Z_NO_FLUSH)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw EventbaseError(
                    .corruptData, "The compressed body is not valid deflate data (zlib status \(status)).")
            }
            let produced = Self.bufferSize - Int(stream.pointee.avail_out)
            if produced > 0 {
                bytesOut += UInt64(produced)
                guard bytesOut <= limit else {
                    throw EventbaseError(
                        .corruptData, "The compressed body inflates to more than its declared \(limit) bytes.")
                }
                try sink(UnsafeRawBufferPointer(rebasing: output[..<produced]))
            }
            if status == Z_STREAM_END {
                finished = true
                guard stream.pointee.avail_in == 0 else {
                    throw EventbaseError(.corruptData, "Data follows the end of the compressed body.")
                }
                return
            }
            if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
            if status == Z_BUF_ERROR && produced == 0 { return }
        }
    }
}
