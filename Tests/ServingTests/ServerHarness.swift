import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The real `transfer` executable built next to the test bundle.
func transferExecutable() -> URL? {
    if let path = ProcessInfo.processInfo.environment["TRANSFER_EXECUTABLE"], !path.isEmpty { return URL(fileURLWithPath: path) }
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("transfer") }
    return candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) })
}

/// Runs `transfer` to its end.
func runTransfer(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    guard let exe = transferExecutable() else {
        Issue.record("transfer executable not found near \(Bundle.main.bundleURL.path)")
        return (-1, "", "")
    }
    let p = Process()
    p.executableURL = exe
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let errData = Box(), group = DispatchGroup(), errHandle = err.fileHandleForReading
    DispatchQueue.global().async(group: group) { errData.data = errHandle.readDataToEndOfFile() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData.data, as: UTF8.self))
}

/// A `transfer serve` process on a free loopback port, stopped (SIGTERM) by ``stop()``.
final class RunningServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    let token: String?
    private let errors = TextBox()

    /// Text appended from another thread.
    final class TextBox: @unchecked Sendable {
        private let lock = NSLock()
        private var text = ""
        func append(_ d: Data) { lock.withLock { text += String(decoding: d, as: UTF8.self) } }
        var value: String { lock.withLock { text } }
    }

    var stderr: String { errors.value }
    var base: String { "http://127.0.0.1:\(port)" }

    init(_ arguments: [String], token: String? = nil, environment: [String: String] = [:]) throws {
        guard let exe = transferExecutable() else { throw CocoaError(.fileNoSuchFile) }
        self.token = token
        process.executableURL = exe
        process.arguments = ["serve", "--port", "0"] + (token.map { ["--token", $0] } ?? []) + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let box = errors
        err.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if !d.isEmpty { box.append(d) }
        }
        // A stdout line names the port: "serving on http://127.0.0.1:PORT" (Hummingbird may log lines before it).
        var text = ""
        let handle = out.fileHandleForReading
        while !text.contains("serving on http://127.0.0.1:") || !text[text.range(of: "serving on http://127.0.0.1:")!.upperBound...].contains("\n") {
            let d = handle.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        guard let r = text.range(of: "serving on http://127.0.0.1:"), let p = Int(text[r.upperBound...].prefix { $0.isNumber }) else {
            process.waitUntilExit()
            throw ServerFailedToStart(stdout: text, stderr: errors.value)
        }
        handle.readabilityHandler = { h in _ = h.availableData }
        port = p
    }

    struct ServerFailedToStart: Error, CustomStringConvertible {
        let stdout: String, stderr: String
        var description: String { "transfer serve did not start: stdout '\(stdout)' stderr '\(stderr)'" }
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// One HTTP exchange (the bearer token is sent when the server has one, unless `headers` set Authorization).
    func request(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil,
                 headers: [String: String] = [:], authorized: Bool = true) async throws -> (status: Int, body: Data) {
        var r = URLRequest(url: URL(string: base + path)!)
        r.httpMethod = method
        r.httpBody = body
        r.timeoutInterval = 120
        if let contentType { r.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if authorized, let token, headers["Authorization"] == nil { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
        let (data, response) = try await URLSession.shared.data(for: r)
        return ((response as? HTTPURLResponse)?.statusCode ?? -1, data)
    }

    func json(_ data: Data) -> Any? { try? JSONSerialization.jsonObject(with: data) }
}

/// A `multipart/form-data` body of files.
func multipart(_ files: [(name: String, data: Data)], boundary: String = "tkboundary42", closed: Bool = true) -> (Data, String) {
    var body = Data()
    for f in files {
        body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\(f.name)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        body += f.data + Data("\r\n".utf8)
    }
    if closed { body += Data("--\(boundary)--\r\n".utf8) }
    return (body, "multipart/form-data; boundary=\(boundary)")
}

/// The error code of a JSON error answer.
func errorCode(_ data: Data) -> String? {
    ((try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
}

func errorMessage(_ data: Data) -> String {
    (((try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? [String: Any])?["message"] as? String) ?? String(decoding: data, as: UTF8.self)
}
