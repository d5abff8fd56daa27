import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol on a pipe
/// (`--remote-debugging-pipe`: commands on the browser's fd 3, answers on its fd 4, NUL-terminated JSON), so a
/// test can load a page, choose a file in an `<input type=file>`, click, read the DOM and take screenshots.
final class HeadlessChromium {
    static let executable = "/usr/bin/chromium"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    private var pid: pid_t = 0
    private let toBrowser: Int32, fromBrowser: Int32
    private var nextID = 0
    private var buffer = [UInt8]()
    private var session: String?
    let profile: URL

    struct Failure: Error, CustomStringConvertible { let description: String }

    init() throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("tk-chromium-\(UUID().uuidString.prefix(8))")
        var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
        guard pipe(&a) == 0, pipe(&b) == 0 else { throw Failure(description: "pipe failed") }
        for fd in a + b { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        toBrowser = a[1]; fromBrowser = b[0]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, a[0], 3)
        posix_spawn_file_actions_adddup2(&actions, b[1], 4)
        let devnull = open("/dev/null", O_WRONLY)
        posix_spawn_file_actions_adddup2(&actions, devnull, 1)
        posix_spawn_file_actions_adddup2(&actions, devnull, 2)
        let args = [Self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--remote-debugging-pipe", "--user-data-dir=\(profile.path)", "--window-size=1100,900", "about:blank"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        let rc = posix_spawn(&pid, Self.executable, &actions, nil, &argv, &envp)
        close(a[0]); close(b[1]); close(devnull)
        guard rc == 0 else { throw Failure(description: "posix_spawn chromium: \(rc)") }
        let target = try send("Target.createTarget", ["url": "about:blank"], session: nil)
        guard let targetID = target["targetId"] as? String else { throw Failure(description: "no target: \(target)") }
        let attached = try send("Target.attachToTarget", ["targetId": targetID, "flatten": true], session: nil)
        session = attached["sessionId"] as? String
        _ = try send("Page.enable")
        _ = try send("Runtime.enable")
    }

    deinit {
        close(toBrowser); close(fromBrowser)
        if pid > 0 { kill(pid, SIGTERM); var status: Int32 = 0; waitpid(pid, &status, 0) }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sends one command (to the page's session unless `session` is nil) and returns its result.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], session: String?? = .none) throws -> [String: Any] {
        nextID += 1
        var message: [String: Any] = ["id": nextID, "method": method, "params": params]
        if let s = session ?? self.session { message["sessionId"] = s }
        var data = try JSONSerialization.data(withJSONObject: message)
        data.append(0)
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(toBrowser, raw.baseAddress! + off, raw.count - off)
                guard n > 0 else { throw Failure(description: "write to chromium failed") }
                off += n
            }
        }
        while true {
            let m = try readMessage()
            guard m["id"] as? Int == nextID else { continue }
            if let e = m["error"] { throw Failure(description: "\(method): \(e)") }
            return m["result"] as? [String: Any] ?? [:]
        }
    }

    private func readMessage() throws -> [String: Any] {
        while true {
            if let z = buffer.firstIndex(of: 0) {
                let chunk = Data(buffer[..<z])
                buffer.removeSubrange(...z)
                if let m = try JSONSerialization.jsonObject(with: chunk) as? [String: Any] { return m }
                continue
            }
            var tmp = [UInt8](repeating: 0, count: 65536)
            let n = read(fromBrowser, &tmp, tmp.count)
            guard n > 0 else { throw Failure(description: "chromium closed its pipe") }
            buffer += tmp[..<n]
        }
    }

    /// Loads `url` and waits until the document is complete.
    func navigate(_ url: String, timeout: Double = 30) throws {
        _ = try send("Page.navigate", ["url": url])
        _ = try waitFor("document.readyState === 'complete' && location.href !== 'about:blank'", timeout: timeout)
    }

    /// The value of a JavaScript expression.
    func evaluate(_ expression: String) throws -> Any? {
        let r = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        return (r["result"] as? [String: Any])?["value"]
    }

    /// Polls `expression` until it is truthy (a non-empty string, true, a number); its value.
    func waitFor(_ expression: String, timeout: Double) throws -> Any {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let v = try evaluate(expression) {
                if let b = v as? Bool { if b { return b } } else if let s = v as? String { if !s.isEmpty { return s } } else { return v }
            }
            usleep(100_000)
        }
        throw Failure(description: "timed out waiting for \(expression)")
    }

    /// Puts `files` into the `<input type=file>` matched by `selector`.
    func setFiles(_ selector: String, _ files: [String]) throws {
        let doc = try send("DOM.getDocument")
        guard let root = (doc["root"] as? [String: Any])?["nodeId"] as? Int else { throw Failure(description: "no document") }
        let node = try send("DOM.querySelector", ["nodeId": root, "selector": selector])
        guard let id = node["nodeId"] as? Int, id != 0 else { throw Failure(description: "no element \(selector)") }
        _ = try send("DOM.setFileInputFiles", ["nodeId": id, "files": files])
    }

    /// A PNG screenshot of the page, written to `file`.
    func screenshot(_ file: URL) throws {
        let r = try send("Page.captureScreenshot", ["format": "png"])
        guard let b64 = r["data"] as? String, let data = Data(base64Encoded: b64) else { throw Failure(description: "no screenshot") }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
    }
}
