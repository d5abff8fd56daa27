import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.0 server on 127.0.0.1 serving fixed responses by path, for tests of downloading code. It binds an
/// ephemeral port, answers a bounded number of requests on one background thread, and stops when released.
final class LoopbackHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let socketFD: Int32
    private let routes: [String: (status: Int, body: Data, contentType: String)]
    private(set) var requests: [String] = []
    private let lock = NSLock()

    init(routes: [String: (status: Int, body: Data, contentType: String)]) throws {
        self.routes = routes
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: addr.sin_port)
        socketFD = fd
        let thread = Thread { [self] in serve(maxRequests: 64) }
        thread.start()
    }

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    var servedPaths: [String] { lock.lock(); defer { lock.unlock() }; return requests }

    private func serve(maxRequests: Int) {
        for _ in 0..<maxRequests {
            let client = accept(socketFD, nil, nil)
            if client < 0 { return }
            var request = Data()
            var buf = [UInt8](repeating: 0, count: 4096)
            while !request.contains(Data("\r\n\r\n".utf8)) {
                let n = recv(client, &buf, buf.count, 0)
                if n <= 0 { break }
                request.append(contentsOf: buf[0..<n])
            }
            let line = String(decoding: request.prefix(while: { $0 != 13 }), as: UTF8.self)
            let path = line.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            lock.lock(); requests.append(path); lock.unlock()
            let route = routes[path] ?? (404, Data("not found".utf8), "text/plain")
            var response = Data("HTTP/1.0 \(route.status) X\r\nContent-Type: \(route.contentType)\r\nContent-Length: \(route.body.count)\r\nConnection: close\r\n\r\n".utf8)
            response.append(route.body)
            response.withUnsafeBytes { raw in
                var sent = 0
                while sent < raw.count {
                    let n = send(client, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                    if n <= 0 { break }
                    sent += n
                }
            }
            close(client)
        }
    }

    deinit {
        shutdown(socketFD, Int32(SHUT_RDWR))
        close(socketFD)
    }
}
