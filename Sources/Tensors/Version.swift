import CBLAS
import Foundation

/// TransferKit's version.
public enum TransferKitVersion {
    public static let string = "0.1.0"
}

/// OpenBLAS facts.
public enum BLASInfo {
    /// OpenBLAS's build configuration string (core, threading).
    public static var configuration: String {
        _ = Threads.count
        return String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces)
    }
}
