import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a call bounded by ``runReleasingFIFO(_:seconds:_:)`` ended.
public enum BoundedCall<T> {
    /// The body returned (its result).
    case finished(T?)
    /// The body was still running after the time limit (it blocked on the FIFO) and was released.
    case blocked
}

/// Runs `body` on its own thread and waits at most `seconds` for it. A reader that wrongly blocks on the FIFO at
/// `fifo` is then released by opening the FIFO's write end and closing it (the reader sees end of file), so a
/// regression makes a test fail instead of hanging the run.
public func runReleasingFIFO<T: Sendable>(_ fifo: String, seconds: Double = 10,
                                          _ body: @escaping @Sendable () -> T?) -> BoundedCall<T> {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let v = body()
        box.lock.lock()
        box.value = v
        box.lock.unlock()
        done.signal()
    }
    thread.start()
    if done.wait(timeout: .now() + seconds) == .timedOut {
        // Release the blocked reader: a writer that opens and closes at once gives it end of file.
        for _ in 0..<100 {
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd); break }
            usleep(10_000)
        }
        _ = done.wait(timeout: .now() + seconds)
        return .blocked
    }
    box.lock.lock()
    defer { box.lock.unlock() }
    return .finished(box.value)
}

/// The result slot of ``runReleasingFIFO(_:seconds:_:)``, written by its thread under `lock`.
private final class ResultBox<T>: @unchecked Sendable {
    let lock = NSLock()
    var value: T?
}

/// Makes a FIFO at `path` (mkfifo(3)).
public func makeFIFO(_ path: String) throws {
    guard mkfifo(path, 0o600) == 0 else {
        throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "mkfifo \(path)"])
    }
}
