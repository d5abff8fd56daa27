import Foundation

/// Serves the bundles in a directory as they come and go: a subdirectory with a `manifest.json` (which
/// `transfer train` writes last) is loaded under its name without extension, loaded again when its manifest
/// changes, and removed when it disappears. Polls every `interval`.
public struct DirectoryWatcher: Sendable {
    public let directory: URL
    public let registry: ServingRegistry
    public var interval: Duration = .milliseconds(500)
    /// Told of each load, replacement, removal or failure (one line).
    public var log: @Sendable (String) -> Void

    public init(directory: URL, registry: ServingRegistry, log: @escaping @Sendable (String) -> Void) {
        self.directory = directory; self.registry = registry; self.log = log
    }

    /// Watches until the task is cancelled.
    public func run() async {
        var seen: [String: String] = [:]  // name → manifest signature
        while !Task.isCancelled {
            let now = scan()
            for (name, entry) in now where seen[name] != entry.signature {
                do {
                    let info = try await registry.load(entry.path, name: name)
                    log("watch: \(seen[name] == nil ? "loaded" : "replaced") \(name) (version \(info.version)) from \(entry.path)")
                } catch {
                    log("watch: \(name): \(error)")
                }
                seen[name] = entry.signature
            }
            for name in seen.keys where now[name] == nil {
                if await registry.remove(name) { log("watch: removed \(name)") }
                seen[name] = nil
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// The bundles in the directory now: name → (path, manifest size and modification time).
    func scan() -> [String: (path: String, signature: String)] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else { return [:] }
        var out: [String: (path: String, signature: String)] = [:]
        for entry in names.sorted() where !entry.hasPrefix(".") {
            let dir = directory.appendingPathComponent(entry)
            let manifest = dir.appendingPathComponent("manifest.json")
            guard let a = try? fm.attributesOfItem(atPath: manifest.path) else { continue }
            let size = (a[.size] as? NSNumber)?.intValue ?? 0
            let time = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            out[dir.deletingPathExtension().lastPathComponent] = (path: dir.path, signature: "\(size)@\(time)")
        }
        return out
    }
}
