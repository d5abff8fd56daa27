import Assets
import Datasets
import Foundation
import TransferKit

/// A SHA-256 that names a data set by its content: the same samples with the same targets give the same
/// fingerprint wherever the files lie and in whatever order the loader lists them; one changed pixel, text or label
/// gives another.
///
/// Each sample contributes the SHA-256 of its content (an image file's bytes, or the text's UTF-8) and its target;
/// the sorted list of those lines, after the task and the class names, is hashed again. A file that cannot be read
/// contributes its path and the words `unreadable`, so a fingerprint can always be made.
public enum DataFingerprint {
    /// `sha256:` and 64 hex digits.
    public static func of(_ data: LabeledData) -> String {
        var lines: [String] = []
        lines.reserveCapacity(data.inputs.count)
        for (input, target) in zip(data.inputs, data.targets) {
            let content: String
            switch input {
            case .image(let path):
                if let bytes = FileManager.default.contents(atPath: path) { content = SHA256.hex(bytes) } else { content = "unreadable " + path }
            case .text(let text, _):
                content = SHA256.hex(Data(text.utf8))
            }
            lines.append(content + " " + describe(target))
        }
        lines.sort()
        var header = "transferkit-data-fingerprint 1\ntask \(data.task.flag)\n"
        for name in data.classNames { header += "class \(name.count):\(name)\n" }
        return "sha256:" + SHA256.hex(Data((header + lines.joined(separator: "\n")).utf8))
    }

    static func describe(_ target: Target) -> String {
        switch target {
        case .classIndex(let c): "class \(c)"
        case .multiLabel(let s): "set " + s.sorted().map(String.init).joined(separator: ",")
        case .regression(let v): "value \(v.bitPattern)"
        }
    }
}
