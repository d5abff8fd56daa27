import Models

extension ModelBundle {
    /// How the bundle's text model read long texts in training (`training.long_texts`, `training.max_windows`), so
    /// that prediction reads them the same way; absent: truncated (bundles written before windows existed).
    static func longTexts(_ m: Manifest, file: String) throws(BundleError) -> (policy: LongTextPolicy, maxWindows: Int) {
        guard let raw = m.training[longTextsKey] else { return (.truncate, 16) }
        guard let policy = LongTextPolicy(rawValue: raw) else {
            throw .invalidValue(file: file, key: "training.\(longTextsKey)", value: ManifestText.quote(raw),
                                accepted: LongTextPolicy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let w = m.training[maxWindowsKey] ?? "16"
        guard let windows = Int(w), (1...256).contains(windows) else {
            throw .invalidValue(file: file, key: "training.\(maxWindowsKey)", value: ManifestText.quote(w), accepted: "a whole number in 1…256")
        }
        return (policy, windows)
    }
}
