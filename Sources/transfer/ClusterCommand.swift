import ArgumentParser
import Assets
import Checkpoints
import Clustering
import Datasets
import Foundation
import Models
import Reports
import Tensors
import TransferKit

extension ClusterMethod: ExpressibleByArgument {}

/// `--k`: a number of clusters or `auto` (chosen by silhouette).
enum KChoice: ExpressibleByArgument, Equatable {
    case fixed(Int), auto
    init?(argument: String) {
        if argument == "auto" { self = .auto } else if let k = Int(argument) { self = .fixed(k) } else { return nil }
    }
}

/// `transfer cluster`: unsupervised transfer — cluster a folder's pretrained features.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Cluster images or texts by their pretrained features (k-means++ or Ward), scored against labels when there are any.")

    @Option(name: .long, help: "A registry model (see `transfer models`).")
    var model: String

    @Option(name: .long, help: "A folder of class folders (labels are used for scoring only), a manifest/table, or a folder of unlabelled .jpg/.png/.txt files.")
    var data: String

    @Option(name: .long, help: "Number of clusters (2…1000) or auto (the best mean silhouette over 2…--max-k).")
    var k: KChoice = .auto

    @Option(name: .long, help: "The largest k that auto tries (3…50).")
    var maxK = 12

    @Option(name: .long, help: "kmeans (k-means++ with restarts) or agglomerative (Ward).")
    var method: ClusterMethod = .kmeans

    @Option(name: .long, help: "k-means restarts; the lowest inertia wins (1…100).")
    var restarts = 10

    @Option(name: .long, help: "Use at most this many inputs per class (unlabelled: in all).")
    var limit: Int?

    @Option(name: .long, help: "Seed of k-means++ (0…18446744073709551615).")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Directory for the HTML map of the features (2-D by --map, thumbnails or snippets).")
    var report: String?

    @Option(name: .long, help: "The map's projection: tsne (t-SNE, perplexity 30, PCA-initialised) or pca (first two principal components).")
    var map: MapProjection = .tsne

    @Option(name: .long, help: "Write the features, labels and clusters to this safetensors file (for tools/sklearn_cluster_reference.py).")
    var featuresOut: String?

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    var fixedK: Int? {
        if case .fixed(let n) = k { return n }
        return nil
    }

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must name a registry model (received an empty string)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a path (received an empty string)") }
        if let n = fixedK { try requireWhole("--k", n, in: 2...1000, ", or auto") }
        try requireWhole("--max-k", maxK, in: 3...50)
        try requireWhole("--restarts", restarts, in: 1...100)
        if let limit { try requireWhole("--limit", limit, atLeast: 1) }
        try requireDirectoryPath("--report", report, holds: "the map")
        if let featuresOut, featuresOut.isEmpty { throw ValidationError("--features-out must be a file path (received an empty string)") }
    }

    func run() async throws {
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
        let inputs: ClusterInputs
        do { inputs = try ClusterInputs.load(data).limited(perClass: limit) } catch { throw RuntimeError("\(error)") }
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec))
        let start = Date()
        let r = backbone.features(inputs.inputs, cache: backbone.featureCache(root: AssetStore.cacheRoot.appendingPathComponent("features")),
                                  progress: json ? nil : { d, t in ProgressLine.draw("features", done: d, total: t, start: start) })
        for f in r.failed { printErr("skipped \(f.0): \(f.1)") }
        let labels = inputs.labels.map { l in r.kept.map { l[$0] } }
        let x = FeatureMatrix(r.features)
        if x.rows < Swift.max(fixedK ?? 3, 3) { throw RuntimeError(ClusteringError.tooFewPoints(count: x.rows, k: fixedK ?? 3).description) }
        let result = Clusterer.cluster(x, k: fixedK, method: method, restarts: restarts, seed: seed, labels: labels, maxK: maxK)
        if let featuresOut {
            try SafeTensorsWriter.write([
                "features": r.features,
                "labels": Tensor(shape: [x.rows], data: (labels ?? [Int](repeating: -1, count: x.rows)).map { Float($0) }),
                "clusters": Tensor(shape: [x.rows], data: result.assignment.labels.map { Float($0) }),
            ], metadata: ["model": spec.name, "data": data], to: featuresOut)
        }
        let kept = r.kept.map { inputs.inputs[$0] }
        var pagePath: String?
        if let report { pagePath = try writeMap(report, x: x, result: result, inputs: kept, labels: labels, classNames: inputs.classNames) }
        try printResult(result, points: x.rows, dimension: x.columns, page: pagePath)
    }

    func summaryLines(_ r: ClusteringResult, points: Int) -> [String] {
        var lines = ["\(points) inputs, \(model) features, \(r.method.rawValue), k = \(r.assignment.k)"
                     + (r.search == nil ? "" : " (auto: best silhouette over k = \(r.search!.first!.k)…\(r.search!.last!.k))"),
                     String(format: "silhouette %.4f, inertia %.1f", r.silhouette, r.assignment.inertia)]
        if let nmi = r.nmi, let ari = r.ari, let purity = r.purity {
            lines.append(String(format: "against the labels: NMI %.4f, ARI %.4f, purity %.4f", nmi, ari, purity))
        }
        return lines
    }

    func printResult(_ r: ClusteringResult, points: Int, dimension: Int, page: String?) throws {
        guard json else {
            for line in summaryLines(r, points: points) { print(line) }
            if let s = r.search { print("silhouette by k: " + s.map { String(format: "%d: %.4f", $0.k, $0.silhouette) }.joined(separator: ", ")) }
            if let page { print("→ \(page)") }
            return
        }
        var obj: [String: Any] = ["model": model, "points": points, "dimension": dimension, "method": r.method.rawValue,
                                  "k": r.assignment.k, "silhouette": r.silhouette, "inertia": r.assignment.inertia,
                                  "cluster_sizes": (0..<r.assignment.k).map { c in r.assignment.labels.filter { $0 == c }.count }]
        if let s = r.search { obj["k_search"] = s.map { ["k": $0.k, "silhouette": $0.silhouette] } }
        if let nmi = r.nmi, let ari = r.ari, let purity = r.purity { obj["nmi"] = nmi; obj["ari"] = ari; obj["purity"] = purity }
        if let page { obj["report"] = page }
        if let featuresOut { obj["features_out"] = featuresOut }
        print(try jsonString(jsonSafe(obj)))
    }

    /// The HTML map (t-SNE or the first two principal components) with thumbnails or snippets.
    func writeMap(_ dir: String, x: FeatureMatrix, result: ClusteringResult, inputs: [LabeledInput], labels: [Int]?,
                  classNames: [String]) throws -> String {
        let xy = map == .tsne ? TSNE.embed(x, perplexity: 30, iterations: 750) : PCA.project(x, components: 2)
        let points = inputs.enumerated().map { i, input -> ClusterMapHTML.Point in
            var thumb: [UInt8]?, snippet: String?
            switch input {
            case .image(let p): thumb = (try? ImageDecoder.decode(contentsOf: p)).map { Mistake.thumbnail(of: $0, maxSide: 40) }
            case .text(let t, _): snippet = t
            }
            return ClusterMapHTML.Point(x: xy[i][0], y: xy[i][1], cluster: result.assignment.labels[i],
                                        label: labels.map { classNames[$0[i]] }, thumbnailPNG: thumb, snippet: snippet, source: input.name)
        }
        let url = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let page = url.appendingPathComponent("clusters.html")
        let html = ClusterMapHTML.html(title: "Clusters — \(model) features of \((data as NSString).lastPathComponent)",
                                       summary: summaryLines(result, points: x.rows), points: points,
                                       axes: map == .tsne ? ("t-SNE 1", "t-SNE 2") : ("PC 1", "PC 2"))
        try Data(html.utf8).write(to: page)
        return page.path
    }
}

/// `--map`: how the cluster map projects the features to 2-D.
enum MapProjection: String, CaseIterable, ExpressibleByArgument { case tsne, pca }
