import CBLAS
import CKernels
import Dispatch
import Foundation

/// One thread-count setting for OpenBLAS, oneDNN (OpenMP) and TransferKit's own Swift kernels.
///
/// Read from `TRANSFERKIT_THREADS` (default: the number of active cores) the first time any kernel runs; change
/// it with ``Threads/setCount(_:)``. A value outside ``Threads/environmentRange`` is not used: the `transfer` tool
/// refuses it at startup (``Threads/environmentCount(_:)``), and a library user gets one warning on stderr and the
/// default.
public enum Threads {
    private final class State: @unchecked Sendable {
        var count: Int
        let lock = NSLock()
        init() {
            let env: Int?
            do throws(EnvironmentError) { env = try Threads.environmentCount() } catch {
                FileHandle.standardError.write(Data("TransferKit: warning: \(error.description); using \(ProcessInfo.processInfo.activeProcessorCount) threads\n".utf8))
                env = nil
            }
            count = Swift.max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
            Threads.apply(count)
        }
    }

    /// The environment variable that sets the thread count.
    public static let environmentVariable = "TRANSFERKIT_THREADS"

    /// The thread counts `TRANSFERKIT_THREADS` may hold.
    public static let environmentRange = 1...1024

    /// A `TRANSFERKIT_THREADS` value that is not a whole number in ``Threads/environmentRange``.
    public struct EnvironmentError: Error, CustomStringConvertible, Equatable, Sendable {
        /// The variable's name (`TRANSFERKIT_THREADS`).
        public let variable: String
        /// The value as found in the environment.
        public let value: String
        /// The accepted values, e.g. `a whole number in 1…1024`.
        public let accepted: String

        public var description: String {
            "\(variable)=\(value.debugDescription) is not a thread count: it must be \(accepted) (or unset: one thread per core)"
        }
    }

    /// The thread count `environment`'s `TRANSFERKIT_THREADS` asks for: nil when it is unset or empty, else a whole
    /// number in ``environmentRange`` (decimal, no sign or spaces); anything else throws ``EnvironmentError``.
    public static func environmentCount(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(EnvironmentError) -> Int? {
        guard let raw = environment[environmentVariable], !raw.isEmpty else { return nil }
        let accepted = "a whole number in \(environmentRange.lowerBound)…\(environmentRange.upperBound)"
        guard raw.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(raw), environmentRange.contains(n) else {
            throw EnvironmentError(variable: environmentVariable, value: raw, accepted: accepted)
        }
        return n
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
