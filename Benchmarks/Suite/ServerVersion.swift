import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a nats-server's version from the INFO line it sends to every new connection.
enum ServerVersion {
    /// The version the server at `url` announces, or `nil` when it cannot be read (TLS-first servers,
    /// names that do not resolve, a server that does not answer within a second).
    static func read(url: String) -> String? {
        guard let components = URLComponents(string: url), let host = components.host else { return nil }
        let port = components.port ?? 4222
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 8192)
        var total = 0
        while total < bytes.count, !bytes[0..<total].contains(UInt8(ascii: "\n")) {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, $0.count - total) }
            guard count > 0 else { break }
            total += count
        }
        let line = String(decoding: bytes[0..<total], as: UTF8.self)
        guard line.hasPrefix("INFO "),
            let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(5).utf8)) as? [String: Any]
        else { return nil }
        return object["version"] as? String
    }
}
