/// Why a dataset, a data file or one of its images could not be read.
///
/// Every case names the file or folder involved (and the column, line or value where there is one), so a message
/// points at the exact place to look. Nothing in this module stops the process on bad input; it throws one of these.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file or folder could not be opened or listed (missing, a permission problem, not a directory, …).
    case unreadable(path: String, reason: String)
    /// The bytes are not a valid image of the format they claim (truncated, bad checksum, broken header, …).
    /// `reason` is the decoder's own message (libjpeg's or libpng's text where they give one).
    case corruptImage(path: String, reason: String)
    /// The file is neither a JPEG nor a PNG by its leading bytes (the extension is not trusted), or is a JPEG/PNG
    /// variant that cannot be converted to RGB.
    case unsupportedImageFormat(path: String)
    /// The header declares more than `limit` pixels; nothing was allocated (compare PIL's
    /// `DecompressionBombError`, raised above `Image.MAX_IMAGE_PIXELS`).
    case imageTooLarge(path: String, width: Int, height: Int, limit: Int)
    /// A class folder holds no file this dataset reads.
    case emptyClass(path: String)
    /// Classification needs at least two classes; `found` were found under `root`.
    case tooFewClasses(found: Int, root: String)
    /// The table has no column `name`; `available` lists the header it does have.
    case missingColumn(name: String, file: String, available: [String])
    /// A row of a CSV/TSV/JSON-lines table cannot be parsed (unterminated quote, wrong field count, bad JSON).
    case malformedTable(file: String, line: Int, reason: String)
    /// A label cannot be used for the requested task (empty, or not a number for regression).
    case invalidLabel(file: String, line: Int, value: String, reason: String)
    /// The dataset has no samples at all.
    case emptyDataset(path: String)
    /// An IDX file has a bad magic number, element type, dimension list or data size.
    case malformedIDX(path: String, reason: String)
    /// A dataset that a system package provides is not installed; `fix` says how to install it.
    case datasetNotInstalled(path: String, fix: String)
    /// Split or fold parameters cannot be satisfied (fractions outside 0…1, k larger than the dataset, …).
    case invalidSplit(reason: String)
    /// An index outside `0..<count` was asked of a dataset.
    case indexOutOfRange(index: Int, count: Int)
    /// Writing a file failed.
    case writeFailed(path: String, reason: String)
    /// The path is a FIFO, socket, device or other special file (`kind` says which), not a regular file; nothing was
    /// read from it (a FIFO would block the reader, `/dev/zero` would never end).
    case notARegularFile(path: String, kind: String)
    /// The file holds `size` bytes, more than the `limit` its reader accepts (see ``DecodeOptions/maxFileBytes``).
    case fileTooLarge(path: String, size: Int, limit: Int)
    /// A name in `directory` is not valid UTF-8; `name` shows its bytes with the invalid ones escaped as `\xHH`.
    case invalidFileName(directory: String, name: String)
    /// A classification table whose `count` rows all carry the one class `label`: classification needs at least two
    /// classes (an image folder with one class folder is refused the same way, with ``tooFewClasses(found:root:)``).
    case singleClass(file: String, label: String, count: Int)

    /// A one-line message naming the file, column or value involved and what is wrong.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot be read: \(reason)"
        case .corruptImage(let path, let reason):
            return "\(path): corrupt or truncated image: \(reason)"
        case .unsupportedImageFormat(let path):
            return "\(path): not a supported image (only JPEG and PNG are read; the format is detected from the file's first bytes, not its extension)"
        case .imageTooLarge(let path, let width, let height, let limit):
            return "\(path): image header declares \(width)×\(height) = \(width * height) pixels, more than the limit of \(limit) (raise DecodeOptions.maxPixels if the file is trusted)"
        case .emptyClass(let path):
            return "\(path): class folder has no readable files"
        case .tooFewClasses(let found, let root):
            return "\(root): found \(found) class folder\(found == 1 ? "" : "s"); classification needs at least 2 (one sub-folder per class)"
        case .missingColumn(let name, let file, let available):
            return "\(file): no column '\(name)' (columns: \(available.map { "'\($0)'" }.joined(separator: ", ")))"
        case .malformedTable(let file, let line, let reason):
            return "\(file):\(line): \(reason)"
        case .invalidLabel(let file, let line, let value, let reason):
            return "\(file):\(line): label '\(value)': \(reason)"
        case .emptyDataset(let path):
            return "\(path): the dataset has no samples"
        case .malformedIDX(let path, let reason):
            return "\(path): not a valid IDX file: \(reason)"
        case .datasetNotInstalled(let path, let fix):
            return "\(path) not found: \(fix)"
        case .invalidSplit(let reason):
            return "invalid split: \(reason)"
        case .indexOutOfRange(let index, let count):
            return "sample index \(index) is outside 0..<\(count)"
        case .writeFailed(let path, let reason):
            return "\(path): cannot be written: \(reason)"
        case .notARegularFile(let path, let kind):
            return "\(path): is a \(kind), not a regular file; only regular files are read"
        case .fileTooLarge(let path, let size, let limit):
            return "\(path): \(size) bytes, more than the limit of \(limit) bytes for this kind of file"
        case .invalidFileName(let directory, let name):
            return "\(directory): the name \"\(name)\" is not valid UTF-8 (invalid bytes shown as \\xHH); rename it, e.g. with convmv"
        case .singleClass(let file, let label, let count):
            return "\(file): all \(count) row\(count == 1 ? "" : "s") have the label '\(label)'; classification needs at least 2 classes"
        }
    }
}
