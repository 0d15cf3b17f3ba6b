import EventbaseCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An `errno` from a failed system call, kept as the `cause` of an ``EventbaseError``.
struct SystemCallError: Error, CustomStringConvertible {
    /// The call that failed, e.g. `fsync`.
    let call: String
    /// The path it was called on.
    let path: String
    /// The `errno` it set.
    let errno: Int32

    var description: String { "\(call)(\(path)) failed: \(String(cString: strerror(errno))) (errno \(errno))" }

    /// The error as a `.storageFailure`.
    var storageFailure: EventbaseError {
        EventbaseError(
            .storageFailure, "The file store could not \(call) \(path): check the disk and permissions.", cause: self)
    }
}

/// A file descriptor used by one snapshot read or write on one thread, closed when released.
final class PosixFile {
    /// The path the file was opened at.
    let path: String
    private var descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        if descriptor >= 0 { _ = systemClose(descriptor) }
    }

    /// Creates a new file for writing; fails if it exists.
    static func create(_ path: String) throws -> PosixFile {
        let descriptor = systemOpen(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SystemCallError(call: "create", path: path, errno: errno).storageFailure }
        return PosixFile(path: path, descriptor: descriptor)
    }

    /// Opens an existing file for reading.
    static func openForReading(_ path: String) throws -> PosixFile {
        let descriptor = systemOpen(path, O_RDONLY | O_CLOEXEC, 0)
        guard descriptor >= 0 else { throw SystemCallError(call: "open", path: path, errno: errno).storageFailure }
        return PosixFile(path: path, descriptor: descriptor)
    }

    /// The file's size in bytes.
    func size() throws -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw SystemCallError(call: "stat", path: path, errno: errno).storageFailure
        }
        return Int(info.st_size)
    }

    /// Writes all of `bytes` at the current offset.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "write", path: path, errno: errno).storageFailure
            }
            offset += written
        }
    }

    /// Writes all of `bytes` at `position`, leaving the current offset alone.
    func write(_ bytes: UnsafeRawBufferPointer, at position: Int) throws {
        var offset = 0
        while offset < bytes.count {
            let written = pwrite(
                descriptor, bytes.baseAddress! + offset, bytes.count - offset, off_t(position + offset))
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "write", path: path, errno: errno).storageFailure
            }
            offset += written
        }
    }

    /// Reads up to `buffer.count` bytes at the current offset; 0 at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = systemRead(descriptor, buffer.baseAddress!, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "read", path: path, errno: errno).storageFailure
            }
            return count
        }
    }

    /// Reads exactly `count` bytes, or fewer if the file ends first.
    func read(exactly count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while filled < count {
                let read = try self.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if read == 0 { break }
                filled += read
            }
        }
        return Array(bytes[..<filled])
    }

    /// Flushes the file's data and metadata to the disk.
    func sync() throws {
        guard fsync(descriptor) == 0 else {
            throw SystemCallError(call: "fsync", path: path, errno: errno).storageFailure
        }
    }

    /// Closes the file, reporting a failed close (which can report a failed write).
    func close() throws {
        let descriptor = self.descriptor
        self.descriptor = -1
        guard systemClose(descriptor) == 0 else {
            throw SystemCallError(call: "close", path: path, errno: errno).storageFailure
        }
    }

    /// Flushes a directory's entries (a rename or an unlink in it) to the disk.
    static func syncDirectory(_ path: String) throws {
        let descriptor = systemOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard descriptor >= 0 else { throw SystemCallError(call: "open", path: path, errno: errno).storageFailure }
        defer { _ = systemClose(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw SystemCallError(call: "fsync", path: path, errno: errno).storageFailure
        }
    }

    /// Atomically replaces `destination` with `source`.
    static func rename(_ source: String, to destination: String) throws {
        guard systemRename(source, destination) == 0 else {
            throw SystemCallError(call: "rename", path: source, errno: errno).storageFailure
        }
    }

    /// Removes a file; a missing file is not an error.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw SystemCallError(call: "remove", path: path, errno: errno).storageFailure
        }
    }
}

// The C functions under names that do not clash with this type's methods.
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func systemClose(_ descriptor: Int32) -> Int32 { close(descriptor) }
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}
private func systemRead(_ descriptor: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, bytes, count)
}
private func systemRename(_ source: String, _ destination: String) -> Int32 { rename(source, destination) }
