import Datasets
import Foundation
import TransferKit

/// Unlabelled target-domain inputs: whatever ``TransferKit/LabeledData/load(_:task:)`` reads (class folders, tables;
/// the labels are ignored), or a flat folder of images (`.jpg`, `.jpeg`, `.png`) or texts (`.txt`).
public enum TargetData {
    /// The inputs at `path`, in a stable order (sorted by file name for a flat folder). Throws
    /// ``Datasets/DatasetError`` naming the path when it holds neither.
    public static func load(_ path: String) throws -> [LabeledInput] {
        if let labelled = try? LabeledData.load(path, task: .classification) { return labelled.inputs }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DatasetError.unreadable(path: path, reason: "no such file or folder")
        }
        guard isDir.boolValue else {
            throw DatasetError.unreadable(path: path, reason: "not a folder of images or texts, nor a table LabeledData reads")
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted() } catch {
            throw DatasetError.unreadable(path: path, reason: error.localizedDescription)
        }
        let images = names.filter { ImageFolderDataset.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
        if !images.isEmpty { return images.map { .image(path: path + "/" + $0) } }
        let texts = names.filter { ($0 as NSString).pathExtension.lowercased() == "txt" }
        guard !texts.isEmpty else { throw DatasetError.emptyDataset(path: path) }
        return try texts.map { name in
            let file = path + "/" + name
            guard let data = FileManager.default.contents(atPath: file) else { throw DatasetError.unreadable(path: file, reason: "cannot read the file") }
            return .text(String(decoding: data, as: UTF8.self), source: file)
        }
    }
}
