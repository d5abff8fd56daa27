import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock(2)` on a file, held until ``release()`` or until the process ends. The kernel drops the lock
/// when the process dies however it dies (SIGKILL included), which is what makes a running run's lock a proof of
/// life: another process that can take the lock knows the holder is gone. The descriptor is close-on-exec, so a
/// program the holder starts does not inherit the lock.
public final class RunLock: @unchecked Sendable {
    public let url: URL
    private var fd: Int32

    /// Why a lock could not be taken.
    public enum Failure: Error, CustomStringConvertible {
        /// Another live process holds it.
        case held(path: String)
        case cannotOpen(path: String, reason: String)

        public var description: String {
            switch self {
            case .held(let p): "\(p) is held by a live process"
            case .cannotOpen(let p, let r): "cannot open \(p): \(r)"
            }
        }
    }

    /// Takes the lock on `url` (created if missing); `wait`: block until it is free, else fail with `held` at once.
    public init(url: URL, wait: Bool) throws(Failure) {
        self.url = url
        fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotOpen(path: url.path, reason: String(cString: strerror(errno))) }
        var r: Int32
        repeat { r = flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) } while r != 0 && errno == EINTR
        guard r == 0 else {
            close(fd)
            throw .held(path: url.path)
        }
    }

    /// Whether the holder of the lock file at `url` is gone: the file is missing, or its lock can be taken now.
    /// When it can, the stale file is removed (under the lock, so no new holder can be using it).
    static func holderIsGone(_ url: URL) -> Bool {
        let fd = open(url.path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return errno == ENOENT }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        unlink(url.path)
        return true
    }

    /// Removes the file and drops the lock.
    public func release(removingFile: Bool = false) {
        guard fd >= 0 else { return }
        if removingFile { unlink(url.path) }
        close(fd)
        fd = -1
    }

    deinit { release() }
}
