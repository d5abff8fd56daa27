import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How OpenMP's worker threads wait at the end of a parallel region (`OMP_WAIT_POLICY`, OpenMP 5.2 §6.7).
///
/// Debian's oneDNN 2.6.3 runs on GNU OpenMP (libgomp), whose default is to spin at every barrier for up to
/// `GOMP_SPINCOUNT` iterations before sleeping, and every oneDNN primitive ends in a barrier. On a machine whose cores
/// are shared with other work, a spinning thread burns its time slice while the thread it waits for is descheduled:
/// measured at load 6–9 on 2 cores (`docs/int8.md`, session 10), EfficientNet-Lite0 int8 inference went from 64.5
/// to 151 images/s and fp32 from 45 to 74 with `PASSIVE`. libgomp reads the variable once, when it is loaded (before
/// `main`), so an executable that wants passive waiting starts itself again with it set:
/// ``Threads/adoptPassiveWaiting()``.
public enum OpenMPWaitPolicy: String, Sendable, CaseIterable {
    case active = "ACTIVE"
    case passive = "PASSIVE"
}

/// An `OMP_WAIT_POLICY` value that libgomp would not understand (it ignores such a value without a word).
public struct WaitPolicyError: Error, CustomStringConvertible, Equatable, Sendable {
    public let value: String

    public var description: String {
        "\(Threads.waitPolicyVariable)=\(value.debugDescription) is not a wait policy: it must be ACTIVE or PASSIVE (any case), or unset (transfer then uses PASSIVE)"
    }
}

extension Threads {
    /// The OpenMP environment variable that sets how idle worker threads wait.
    public static let waitPolicyVariable = "OMP_WAIT_POLICY"

    /// The policy `environment`'s `OMP_WAIT_POLICY` asks for: nil when unset or empty, else `ACTIVE` or `PASSIVE` in
    /// any case (as libgomp compares it); anything else throws ``WaitPolicyError``.
    public static func environmentWaitPolicy(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(WaitPolicyError) -> OpenMPWaitPolicy? {
        guard let raw = environment[waitPolicyVariable], !raw.isEmpty else { return nil }
        guard let policy = OpenMPWaitPolicy(rawValue: raw.uppercased()) else { throw WaitPolicyError(value: raw) }
        return policy
    }

    /// On Linux, when `OMP_WAIT_POLICY` is unset: sets it to `PASSIVE` and replaces this process with a new run of the
    /// same executable and arguments (`execv` of `/proc/self/exe`; same process id, file descriptors and environment
    /// otherwise), so that libgomp loads with passive waiting. Returns, changing nothing, when the variable is set (the
    /// user's choice stands), on other systems, and when the exec fails (after one warning on stderr naming the
    /// error). Call it first thing in `main`, before any output.
    public static func adoptPassiveWaiting() {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment[waitPolicyVariable] == nil else { return }
        setenv(waitPolicyVariable, OpenMPWaitPolicy.passive.rawValue, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        unsetenv(waitPolicyVariable)
        FileHandle.standardError.write(Data("TransferKit: warning: could not restart with \(waitPolicyVariable)=PASSIVE (\(reason)); OpenMP threads spin while idle\n".utf8))
        #endif
    }
}
