import CBLAS
import CKernels
import Dispatch
import Foundation

/// One thread-count setting for OpenBLAS, oneDNN (OpenMP) and TransferKit's own Swift kernels.
///
/// Read from `TRANSFERKIT_THREADS` (default: the number of active cores) the first time any kernel runs; change
/// it with ``Threads/setCount(_:)``.
public enum Threads {
    private final class State: @unchecked Sendable {
        var count: Int
        let lock = NSLock()
        init() {
            let env = ProcessInfo.processInfo.environment["TRANSFERKIT_THREADS"].flatMap(Int.init)
            count = Swift.max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
            Threads.apply(count)
        }
    }
    private static let state = State()

    /// The thread count every kernel uses.
    public static var count: Int { state.count }

    /// Sets the thread count for OpenBLAS, oneDNN and Swift kernels together.
    public static func setCount(_ n: Int) {
        require(n >= 1, "Threads.setCount: \(n) must be ≥ 1")
        state.lock.lock()
        state.count = n
        apply(n)
        state.lock.unlock()
    }

    fileprivate static func apply(_ n: Int) {
        openblas_set_num_threads(Int32(n))
        _ = tk_set_omp_threads(Int32(n))
    }

    /// Runs `body(start, end)` over `0..<n` split into at most ``count`` chunks; runs inline when `n` is below
    /// `grain` (a parallel loop over a tiny range costs more than it saves).
    @inlinable
    public static func parallelFor(_ n: Int, grain: Int = 32_768, _ body: (Int, Int) -> Void) {
        let t = count
        if t <= 1 || n < 2 * grain {
            if n > 0 { body(0, n) }
            return
        }
        let chunks = Swift.min(t, (n + grain - 1) / grain)
        let per = (n + chunks - 1) / chunks
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let s = c * per
                let e = Swift.min(n, s + per)
                if s < e { box.value(s, e) }
            }
        }
    }
}

/// Carries a value into a concurrent loop whose iterations touch disjoint memory.
@usableFromInline
struct UncheckedBox<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}
