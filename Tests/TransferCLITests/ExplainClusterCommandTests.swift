import Checkpoints
import Datasets
import Foundation
import Testing
@testable import transfer

let cacheRoot = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"].map { URL(fileURLWithPath: $0) }
    ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
let lite0Present = FileManager.default.fileExists(atPath: cacheRoot.appendingPathComponent("efficientnet-lite0/efficientnet-lite0-57934424.pth").path)
let bbcPresent = FileManager.default.fileExists(atPath: cacheRoot.appendingPathComponent("datasets/bbc-news/sports/001.txt").path)
    && FileManager.default.fileExists(atPath: cacheRoot.appendingPathComponent("minilm-l6/model.safetensors").path)

@Suite(.serialized) struct ExplainClusterCommandTests {
    /// The two real photos of the vision fixture (scikit-image's cat and coffee cup) written as PNG files.
    func photoFiles(_ scratch: Scratch) throws -> [String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/efficientnet_lite0.safetensors")
        let v = try SafeTensorsFile(path: url.path).tensor("photos").toArray(), n = 224 * 224 * 3
        return try ["cat", "coffee"].enumerated().map { i, name in
            let path = scratch.path("\(name).png")
            let image = RGBImage(width: 224, height: 224, pixels: v[(i * n)..<((i + 1) * n)].map { UInt8($0) })
            try Data(PNGEncoder.encode(image)).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    @Test(.enabled(if: lite0Present, "needs efficientnet-lite0: transfer fetch efficientnet-lite0"))
    func explainWritesOverlaysAndAFaithfulDeletionFigureForRealPhotos() throws {
        let scratch = try Scratch("explain")
        defer { scratch.cleanup() }
        let files = try photoFiles(scratch)
        let r = try runTransfer(["explain", "--model", "efficientnet-lite0", "--method", "gradcam++", "--deletion-steps", "5",
                                 "--out", scratch.path("out"), "--json"] + files, environment: ["CI": "1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let images = try #require(obj["images"] as? [[String: Any]])
        #expect(images.count == 2)
        #expect(obj["layer"] as? String == "head")
        for row in images {
            let png = try ImageDecoder.decode(contentsOf: try #require(row["overlay"] as? String))
            #expect(png.width == 224 && png.height == 224)
        }
        #expect((images[0]["label"] as? String)?.lowercased().contains("cat") == true)
        let d = try #require(obj["mean_deletion_auc"] as? Double), random = try #require(obj["mean_random_deletion_auc"] as? Double)
        #expect(d < random)
    }

    @Test func explainAndClusterRefuseBadOptionsByName() throws {
        #expect(refusal(["explain", "--model", "efficientnet-lite0", "--out", "/tmp/x", "--method", "lime", "a.png"])?.contains("--method") == true)
        #expect(refusal(["explain", "--model", "efficientnet-lite0", "--out", "/tmp/x"])?.contains("image") == true)
        #expect(refusal(["cluster", "--model", "minilm-l6", "--data", "/tmp", "--k", "1"])?.contains("--k") == true)
        #expect(refusal(["cluster", "--model", "minilm-l6", "--data", "/tmp", "--k", "many"])?.contains("--k") == true)
        #expect(refusal(["cluster", "--model", "minilm-l6", "--data", "/tmp", "--method", "dbscan"])?.contains("--method") == true)
        let r = try runTransfer(["explain", "--model", "efficientnet-lite0", "--layer", "layer9", "--out", "/tmp/tk-explain-bad",
                                 "/nonexistent.png"], environment: ["CI": "1"])
        #expect(r.status != 0)
    }

    @Test(.enabled(if: bbcPresent, "needs minilm-l6 and bbc-news"))
    func clusterBBCNewsFeaturesScoresAgainstLabelsAndExportsThem() throws {
        let scratch = try Scratch("cluster")
        defer { scratch.cleanup() }
        let data = cacheRoot.appendingPathComponent("datasets/bbc-news").path
        let r = try runTransfer(["cluster", "--model", "minilm-l6", "--data", data, "--limit", "20", "--k", "5", "--restarts", "4",
                                 "--report", scratch.path("map"), "--features-out", scratch.path("f.safetensors"), "--json"],
                                environment: ["CI": "1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(obj["points"] as? Int == 100 && obj["k"] as? Int == 5)
        let nmi = try #require(obj["nmi"] as? Double)
        #expect(nmi > 0.5, "NMI \(nmi)")
        let f = try SafeTensorsFile(path: scratch.path("f.safetensors"))
        #expect(try f.tensor("features").shape.dims == [100, 384])
        let html = try String(contentsOfFile: scratch.path("map/clusters.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("cluster 4"))
    }
}
