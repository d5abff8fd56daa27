import Datasets
import Foundation
import Tensors
import TransferKit

/// Errors of `cluster` naming the path or option.
public enum ClusteringError: Error, CustomStringConvertible, Equatable {
    case noInputs(path: String)
    case tooFewPoints(count: Int, k: Int)

    public var description: String {
        switch self {
        case .noInputs(let p):
            "\(p): no class folders and no .jpg/.jpeg/.png/.txt files directly inside; give a folder of class folders or of unlabelled files"
        case .tooFewPoints(let n, let k): "--k \(k) needs at least \(k) readable inputs; \(n) were read"
        }
    }
}

/// Inputs to cluster: labelled (a folder of class folders, a manifest or a table: ``TransferKit/LabeledData``) or
/// unlabelled (image or text files directly in a folder).
public struct ClusterInputs {
    public let inputs: [LabeledInput]
    /// Class index per input, or nil when the data has no labels.
    public let labels: [Int]?
    public let classNames: [String]

    public init(inputs: [LabeledInput], labels: [Int]?, classNames: [String]) {
        self.inputs = inputs; self.labels = labels; self.classNames = classNames
    }

    /// Reads `path`: labelled data when it is that, else the image (`.jpg`, `.jpeg`, `.png`) or text (`.txt`) files
    /// directly inside the folder, in name order.
    public static func load(_ path: String) throws -> ClusterInputs {
        var isDir: ObjCBool = false
        let fm = FileManager.default
        let isFolder = fm.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
        let names = isFolder ? (try fm.contentsOfDirectory(atPath: path)).filter { !$0.hasPrefix(".") }.sorted() : []
        let url = URL(fileURLWithPath: path)
        let hasSubfolders = names.contains { fm.fileExists(atPath: url.appendingPathComponent($0).path, isDirectory: &isDir) && isDir.boolValue }
        // Class folders, a manifest or a table: labelled data, whose own errors apply (no fallback past a broken one).
        if !isFolder || hasSubfolders {
            let data = try LabeledData.load(path, task: .classification)
            return ClusterInputs(inputs: data.inputs, labels: data.labels, classNames: data.classNames)
        }
        let images = names.filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }
        if !images.isEmpty {
            return ClusterInputs(inputs: images.map { .image(path: url.appendingPathComponent($0).path) }, labels: nil, classNames: [])
        }
        let texts = names.filter { ($0 as NSString).pathExtension.lowercased() == "txt" }
        guard !texts.isEmpty else { throw ClusteringError.noInputs(path: path) }
        return ClusterInputs(inputs: try texts.map { name in
            let file = url.appendingPathComponent(name).path
            return .text(try String(contentsOfFile: file, encoding: .utf8), source: file)
        }, labels: nil, classNames: [])
    }

    /// The first `limit` inputs per class (all when nil), in order; unlabelled data keeps its first `limit` overall.
    public func limited(perClass limit: Int?) -> ClusterInputs {
        guard let limit else { return self }
        guard let labels else { return ClusterInputs(inputs: Array(inputs.prefix(limit)), labels: nil, classNames: classNames) }
        var seen = [Int: Int](), keep: [Int] = []
        for (i, l) in labels.enumerated() where seen[l, default: 0] < limit { seen[l, default: 0] += 1; keep.append(i) }
        return ClusterInputs(inputs: keep.map { inputs[$0] }, labels: keep.map { labels[$0] }, classNames: classNames)
    }
}
