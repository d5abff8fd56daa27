import Assets
import Foundation

extension ModelBundle {
    /// The largest manifest.json read (a real one is a few KB; the labels of ``maxLabels`` classes fit).
    public static let maxManifestBytes = 16 << 20

    /// The bytes of the bundle file `name` in `directory`, read only when it is a regular file (symbolic links
    /// followed) of at most `limit` bytes, so a FIFO or device named manifest.json cannot block or exhaust memory.
    static func readRegularFile(_ name: String, in directory: URL, limit: Int) throws(BundleError) -> Data {
        let path = try regularFilePath(name, in: directory, limit: limit)
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: directory.appendingPathComponent(name).path, reason: (error as NSError).localizedDescription)
        }
    }

    /// The path of bundle file `name` after checking that it is a readable regular file of at most `limit` bytes.
    static func regularFilePath(_ name: String, in directory: URL, limit: Int) throws(BundleError) -> String {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .notADirectory(path: directory.path)
        }
        let shown = directory.appendingPathComponent(name).path
        let resolved = directory.appendingPathComponent(name).resolvingSymlinksInPath().path
        guard let attributes = try? fm.attributesOfItem(atPath: resolved) else { throw .missingFile(path: shown) }
        let type = attributes[.type] as? FileAttributeType
        guard type == .typeRegular else {
            let kind = switch type {
            case .typeDirectory?: "directory"
            case .typeCharacterSpecial?, .typeBlockSpecial?: "device"
            case .typeSocket?: "socket"
            case .typeSymbolicLink?: "dangling symbolic link"
            default: "FIFO or special file"
            }
            throw .notARegularFile(path: shown, kind: kind)
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limit else { throw .tooLarge(path: shown, bytes: size, limit: limit) }
        guard fm.isReadableFile(atPath: resolved) else { throw .unreadable(path: shown, reason: "permission denied") }
        return resolved
    }
}

extension ModelBundle {
    /// SHA-256 (lowercase hex) of the file at `path`.
    static func fileSHA256(_ path: String) throws -> String { try SHA256.hex(fileAt: path) }
}
