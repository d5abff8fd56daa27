import Checkpoints
import Foundation

/// Whole-file reads and writes with errors that name the path and the operating system's reason.
///
/// Only regular files are read: a FIFO, socket or device (`/dev/zero`) is refused with
/// ``DatasetError/notARegularFile(path:kind:)`` before a single byte is read, so a hostile path can neither block
/// the reader (a FIFO with no writer) nor feed it without end (a character device).
enum FileIO {
    /// The bytes of the regular file at `path`; more than `limit` bytes (when given) throws `.fileTooLarge`.
    ///
    /// The file is opened with `O_NONBLOCK`, so opening a FIFO returns at once, and its type is taken from `fstat` on
    /// the open descriptor (no window between the check and the read). The buffer is sized from `fstat` once, and
    /// filled in place.
    static func readFile(_ path: String, limit: Int? = nil) throws(DatasetError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let code = errno
            // Opening a Unix socket fails with ENXIO; name the kind rather than "No such device or address".
            var st = stat()
            if code == ENXIO, stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
                throw .notARegularFile(path: path, kind: fileKind(st.st_mode))
            }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw .unreadable(path: path, reason: "is a directory") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path: path, kind: fileKind(st.st_mode)) }
        let size = Swift.max(Int(st.st_size), 0)
        if let limit, size > limit { throw .fileTooLarge(path: path, size: size, limit: limit) }
        // One spare byte, so a file read to its fstat size ends with a read of 0 bytes into the same buffer.
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                // The file grew after fstat: read on in steps, never past the limit.
                if let limit, filled > limit { throw .fileTooLarge(path: path, size: filled, limit: limit) }
                bytes.append(contentsOf: repeatElement(0, count: Swift.max(65_536, bytes.count / 2)))
            }
            let n = bytes.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + filled, raw.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            filled += n
        }
        if let limit, filled > limit { throw .fileTooLarge(path: path, size: filled, limit: limit) }
        bytes.removeLast(bytes.count - filled)
        return bytes
    }

    /// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees half a file.
    static func write(_ bytes: [UInt8], to path: String) throws(DatasetError) {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    /// Whether `path` is a directory (following symbolic links).
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory (no "." or ".."), unsorted.
    static func list(_ path: String) throws(DatasetError) -> [String] {
        guard let dir = opendir(path) else {
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// One directory entry as the file system stores it: raw name bytes, and the name as a `String` when those bytes
    /// are valid UTF-8 (Linux file names are arbitrary bytes; a `String` made from invalid ones would silently
    /// replace them with U+FFFD and name a file that does not exist).
    struct Entry {
        /// The name's bytes (no terminating NUL).
        var raw: [UInt8]
        /// The name, or nil when `raw` is not valid UTF-8.
        var name: String?
        /// The name for messages: the valid UTF-8 as is, other bytes as `\xHH`.
        var display: String { name ?? escapedBytes(raw) }
    }

    /// The entries of a directory (no "." or ".."), unsorted, with their raw bytes.
    static func entries(_ path: String) throws(DatasetError) -> [Entry] {
        guard let dir = opendir(path) else {
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { closedir(dir) }
        var out: [Entry] = []
        while let entry = readdir(dir) {
            let raw: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { buf in
                Array(buf.prefix { $0 != 0 })
            }
            if raw == [0x2E] || raw == [0x2E, 0x2E] { continue }
            out.append(Entry(raw: raw, name: String(validatingUTF8Bytes: raw)))
        }
        return out
    }

    /// `stat(2)` of `dir/name` where `name` may be any bytes; nil when the call fails.
    static func statRaw(directory dir: String, rawName: [UInt8]) -> stat? {
        var path = Array(dir.utf8)
        if !path.isEmpty && path.last != UInt8(ascii: "/") { path.append(UInt8(ascii: "/")) }
        path += rawName
        path.append(0)
        var st = stat()
        let ok = path.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { stat($0, &st) == 0 }
        }
        return ok ? st : nil
    }

    /// `a/b`, without doubling a trailing slash.
    static func join(_ a: String, _ b: String) -> String {
        if a.isEmpty { return b }
        if b.hasPrefix("/") { return b }
        return a.hasSuffix("/") ? a + b : a + "/" + b
    }
}

extension String {
    /// `bytes` as a string when they are valid UTF-8, else nil (never a U+FFFD repair).
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let v): scalars.append(v)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}

/// A file name's (or a field's) bytes for a message: printable ASCII as is, everything else as `\xHH`, so that a name which is
/// not valid UTF-8 can be found and renamed (e.g. `caf\xE9.jpg`, a Latin-1 "café").
func escapedBytes(_ raw: [UInt8]) -> String {
    var out = ""
    for b in raw {
        if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") {
            out.unicodeScalars.append(Unicode.Scalar(b))
        } else {
            out += "\\x" + (b < 0x10 ? "0" : "") + String(b, radix: 16, uppercase: true)
        }
    }
    return out
}

/// Python's default string order (code point by code point), which torchvision uses to sort class folders; Swift's
/// own `<` compares canonically equivalent strings as equal, which Python does not.
func codePointLess(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
}
