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
/// ``Threads/adoptPassiveWaiting()``. With `PASSIVE` libgomp sleeps at once (`GOMP_SPINCOUNT` 0); TransferKit pairs it
/// with a short spin of ``Threads/passiveSpinCount`` iterations (a few microseconds), which on an idle machine wins
/// back part of the wake-up latency of sleeping (0–5% at batch 32 in alternated runs, `docs/int8.md`, session 11) and
/// under load measures the same as no spin.
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

/// A `GOMP_SPINCOUNT` value that libgomp would not understand (it ignores such a value without a word).
public struct SpinCountError: Error, CustomStringConvertible, Equatable, Sendable {
    public let value: String

    public var description: String {
        "\(Threads.spinCountVariable)=\(value.debugDescription) is not a spin count: it must be a whole number of spins, optionally with the suffix k, M, G or T (×1000 each), or infinite; or unset (transfer then uses \(Threads.passiveSpinCount) with OMP_WAIT_POLICY unset)"
    }
}

extension Threads {
    /// The OpenMP environment variable that sets how idle worker threads wait.
    public static let waitPolicyVariable = "OMP_WAIT_POLICY"

    /// libgomp's variable for how many times a waiting thread polls before it sleeps.
    public static let spinCountVariable = "GOMP_SPINCOUNT"

    /// The spin count TransferKit sets beside `PASSIVE` when neither variable is set: 1000 polls, microseconds.
    public static let passiveSpinCount = 1000

    /// `environment`'s `GOMP_SPINCOUNT` as libgomp reads it (`env.c`, `parse_spincount`): nil when unset or empty,
    /// else the value, which must be digits with an optional suffix `k`, `M`, `G` or `T`, or `infinite`/`infinity`
    /// in any case; anything else throws ``SpinCountError``.
    public static func environmentSpinCount(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(SpinCountError) -> String? {
        guard let raw = environment[spinCountVariable], !raw.isEmpty else { return nil }
        let value = raw.trimmingCharacters(in: .whitespaces)
        if ["infinite", "infinity"].contains(value.lowercased()) { return raw }
        var digits = Substring(value)
        if let last = digits.last, "kMGT".contains(last) { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count <= 15 else {
            throw SpinCountError(value: raw)
        }
        return raw
    }

    /// The policy `environment`'s `OMP_WAIT_POLICY` asks for: nil when unset or empty, else `ACTIVE` or `PASSIVE` in
    /// any case (as libgomp compares it); anything else throws ``WaitPolicyError``.
    public static func environmentWaitPolicy(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(WaitPolicyError) -> OpenMPWaitPolicy? {
        guard let raw = environment[waitPolicyVariable], !raw.isEmpty else { return nil }
        guard let policy = OpenMPWaitPolicy(rawValue: raw.uppercased()) else { throw WaitPolicyError(value: raw) }
        return policy
    }

    /// Checks `OMP_WAIT_POLICY` and `GOMP_SPINCOUNT` in the environment, throwing ``WaitPolicyError`` or
    /// ``SpinCountError`` for a value libgomp would not read (what `transfer` and `transfer-bench` refuse at startup).
    public static func validateOpenMPEnvironment() throws {
        _ = try environmentWaitPolicy()
        _ = try environmentSpinCount()
    }

    /// The wait policy and spin count in effect as the tools report them (`transfer info`, the bench's machine
    /// line): each variable's value, or `default` when unset (or invalid, which startup refuses).
    public static var openMPWaiting: (policy: String, spinCount: String) {
        ((try? environmentWaitPolicy())?.rawValue ?? "default", (try? environmentSpinCount()) ?? "default")
    }

    /// On Linux, when `OMP_WAIT_POLICY` is unset: sets it to `PASSIVE` (and `GOMP_SPINCOUNT` to
    /// ``passiveSpinCount`` unless the user set it) and replaces this process with a new run of the
    /// same executable and arguments (`execv` of `/proc/self/exe`; same process id, file descriptors and environment
    /// otherwise), so that libgomp loads with passive waiting. Returns, changing nothing, when the variable is set (the
    /// user's choice stands), on other systems, and when the exec fails (after one warning on stderr naming the
    /// error). Call it first thing in `main`, before any output.
    public static func adoptPassiveWaiting() {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment[waitPolicyVariable] == nil else { return }
        let setsSpinCount = ProcessInfo.processInfo.environment[spinCountVariable] == nil
        setenv(waitPolicyVariable, OpenMPWaitPolicy.passive.rawValue, 1)
        if setsSpinCount { setenv(spinCountVariable, String(passiveSpinCount), 1) }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        unsetenv(waitPolicyVariable)
        if setsSpinCount { unsetenv(spinCountVariable) }
        FileHandle.standardError.write(Data("TransferKit: warning: could not restart with \(waitPolicyVariable)=PASSIVE (\(reason)); OpenMP threads spin while idle\n".utf8))
        #endif
    }
}
