import Foundation
import Testing
import TransferKit
@testable import Clustering

@Suite struct ClusterInputsTests {
    func folder(_ files: [String: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tk-cluster-\(UUID().uuidString)")
        for (name, text) in files {
            let url = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root.path
    }

    @Test func flatFoldersAreUnlabelledAndClassFoldersLabelled() throws {
        let flat = try folder(["b.txt": "second", "a.txt": "first", "notes.md": "ignored"])
        defer { try? FileManager.default.removeItem(atPath: flat) }
        let u = try ClusterInputs.load(flat)
        #expect(u.labels == nil && u.inputs.count == 2)
        if case .text(let t, _) = u.inputs[0] { #expect(t == "first") } else { Issue.record("not a text") }
        let classes = try folder(["x/1.txt": "one", "x/2.txt": "two", "y/1.txt": "three"])
        defer { try? FileManager.default.removeItem(atPath: classes) }
        let l = try ClusterInputs.load(classes)
        #expect(l.labels == [0, 0, 1] && l.classNames == ["x", "y"])
        #expect(l.limited(perClass: 1).labels == [0, 1])
        let empty = try folder(["notes.md": "nothing to cluster"])
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: ClusteringError.noInputs(path: empty)) { try ClusterInputs.load(empty) }
        // A broken class folder is reported as such, not read as an unlabelled folder.
        let broken = try folder(["x/1.txt": "one", "y/readme.md": "no texts"])
        defer { try? FileManager.default.removeItem(atPath: broken) }
        #expect(throws: (any Error).self) { try ClusterInputs.load(broken) }
    }
}
