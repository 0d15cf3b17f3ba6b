import CEventbaseZlib
import EventbaseCore

/// Streaming raw deflate through a fixed-size input buffer: callers write serialized records one by
/// one; whenever the buffer fills, it is compressed into a fixed-size output buffer handed to `sink`.
///
/// Memory stays at two buffers and zlib's state however large the snapshot is. Used on one thread.
final class Deflater {
    /// The size of the input and output buffers.
    static let bufferSize = 64 * 1024

    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer
    private var buffered = 0
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    /// How many uncompressed bytes were written.
    private(set) var bytesIn: UInt64 = 0
    /// How many compressed bytes were handed to the sink.
    private(set) var bytesOut: UInt64 = 0

    /// Starts a raw deflate stream (no zlib header: the snapshot has its own checksum).
    /// - Parameters:
    ///   - level: The zlib compression level, 0 (none) to 9 (smallest).
    ///   - sink: Receives each chunk of compressed output; valid only during the call.
    init(level: Int32, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = CEventbaseZlib_deflateInit2(stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
        guard status == Z_OK else {
            stream.deallocate()
            throw EventbaseError(.storageFailure, "zlib could not start compressing (status \(status)).")
        }
        input = .allocate(byteCount: Self.bufferSize, alignment: 16)
        output = .allocate(byteCount: Self.bufferSize, alignment: 16)
        self.sink = sink
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        input.deallocate()
        output.deallocate()
    }

    /// Adds bytes to the stream.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let count = min(Self.bufferSize - buffered, bytes.count - offset)
            UnsafeMutableRawBufferPointer(rebasing: input[buffered..<(buffered + count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
            buffered += count
            offset += count
            if buffered == Self.bufferSize { try compress(flush: Z_NO_FLUSH) }
        }
        bytesIn += UInt64(bytes.count)
    }

    /// Adds bytes to the stream.
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Compresses what is buffered and ends the stream.
    func finish() throws {
        try compress(flush: Z_FINISH)
    }

    private func compress(flush: Int32) throws {
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(buffered)
        while true {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(Self.bufferSize)
            let status = deflate(stream, flush)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw EventbaseError(.storageFailure, "zlib failed while compressing a snapshot (status \(status)).")
            }
            let produced = Self.bufferSize - Int(stream.pointee.avail_out)
            if produced > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: output[..<produced]))
                bytesOut += UInt64(produced)
            }
            if flush == Z_FINISH {
                if status == Z_STREAM_END { break }
            } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 {
                break
            }
        }
        buffered = 0
    }
}
