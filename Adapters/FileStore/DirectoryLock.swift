import EventbaseCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive advisory lock (`flock`) on a stream folder's `lock` file, so two stores (in this
/// process or another) never write the same folder.
///
/// Sendable: the descriptor is immutable, and only the run loop that owns the lock releases it.
final class DirectoryLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock on `folder`, failing at once if another store holds it.
    /// - Throws: `.storageFailure` when the folder is in use or the lock file cannot be opened.
    init(folder: String) throws {
        let path = folder + "/lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SystemCallError(call: "open", path: path, errno: errno).storageFailure }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let cause = SystemCallError(call: "lock", path: path, errno: errno)
            close(descriptor)
            throw EventbaseError(
                .storageFailure,
                "Another state store is using \(folder); close it first or give each instance its own directory.",
                cause: cause)
        }
        self.descriptor = descriptor
    }

    /// Releases the lock. Call once.
    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
