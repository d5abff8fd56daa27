import Datasets

/// Errors of dense prediction; each names the file, folder or option involved and what was expected.
public enum DenseError: Error, CustomStringConvertible, Equatable {
    case noImages(folder: String)
    case missingMask(image: String, expected: String)
    case sizeMismatch(image: String, imageSize: String, mask: String, maskSize: String)
    case tooFewClasses(masks: String, found: Int)
    case labelOutOfRange(mask: String, label: Int, classes: Int)
    case unreadable(path: String, reason: String)
    case invalidOption(name: String, value: String, accepted: String)
    case notABundle(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case malformedBoxes(file: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .noImages(let f): "\(f) holds no JPEG or PNG images"
        case .missingMask(let i, let e): "no mask for \(i): expected \(e) (a palette or greyscale PNG of class indices)"
        case .sizeMismatch(let i, let isz, let m, let msz): "mask \(m) is \(msz) but its image \(i) is \(isz); they must match"
        case .tooFewClasses(let m, let n): "the masks in \(m) hold \(n) class(es); segmentation needs at least 2 (background and one class)"
        case .labelOutOfRange(let m, let l, let c): "mask \(m) holds label \(l), outside 0..<\(c) (255 marks ignored pixels)"
        case .unreadable(let p, let r): "cannot read \(p): \(r)"
        case .invalidOption(let n, let v, let a): "\(n) \(v) is invalid: accepted \(a)"
        case .notABundle(let p, let r): "\(p) is not a dense-prediction bundle: \(r)"
        case .writeFailed(let p, let r): "cannot write \(p): \(r)"
        case .malformedBoxes(let f, let l, let r): "\(f) line \(l): \(r)"
        }
    }

    static func wrap(_ e: DatasetError, path: String) -> DenseError { .unreadable(path: path, reason: e.description) }
}
