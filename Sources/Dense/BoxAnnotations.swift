import Foundation

/// Ground-truth boxes of a set of images, read from Pascal VOC XML files or a CSV.
public struct BoxAnnotations: Sendable, Equatable {
    /// Boxes per image file name (the base name, as the CSV's or XML's `filename` gives it).
    public var boxes: [String: [DetectionBox]]
    /// Class names; a box's `label` indexes this list.
    public var classNames: [String]

    public init(boxes: [String: [DetectionBox]], classNames: [String]) {
        self.boxes = boxes
        self.classNames = classNames
    }

    /// Reads `path`: a `.csv` (``readCSV(_:)``), a `.xml` (``readVOC(_:)``), or a folder of `.xml` files.
    public static func read(_ path: String) throws(DenseError) -> BoxAnnotations {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(path: path, reason: "no such file or folder")
        }
        if isDirectory.boolValue {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.lowercased().hasSuffix(".xml") }.sorted()
            guard !names.isEmpty else { throw .unreadable(path: path, reason: "the folder holds no Pascal VOC .xml files") }
            return try readVOC(names.map { path + "/" + $0 })
        }
        return path.lowercased().hasSuffix(".xml") ? try readVOC([path]) : try readCSV(path)
    }

    /// A CSV with a header naming `image_path` (or `filename`), `xmin`, `ymin`, `xmax`, `ymax` and optionally
    /// `label` (DeepForest's and most converters' layout); class names in order of first appearance.
    public static func readCSV(_ path: String) throws(DenseError) -> BoxAnnotations {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .unreadable(path: path, reason: "not a readable UTF-8 file") }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
            throw .malformedBoxes(file: path, line: 1, reason: "the file is empty")
        }
        func column(_ names: [String]) throws(DenseError) -> Int {
            guard let i = header.firstIndex(where: names.contains) else {
                throw .malformedBoxes(file: path, line: 1, reason: "no column \(names.joined(separator: " or ")) in the header \(header)")
            }
            return i
        }
        let image = try column(["image_path", "filename", "image"]), labelColumn = header.firstIndex(of: "label")
        let coords = [try column(["xmin"]), try column(["ymin"]), try column(["xmax"]), try column(["ymax"])]
        var result = BoxAnnotations(boxes: [:], classNames: [])
        for (n, line) in lines.enumerated().dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= header.count else { throw .malformedBoxes(file: path, line: n + 1, reason: "\(cells.count) cells, the header has \(header.count)") }
            var v: [Float] = []
            for c in coords {
                guard let x = Float(cells[c]), x.isFinite else { throw .malformedBoxes(file: path, line: n + 1, reason: "\(header[c]) \"\(cells[c])\" is not a number") }
                v.append(x)
            }
            try result.add(image: (cells[image] as NSString).lastPathComponent, name: labelColumn.map { cells[$0] } ?? "object",
                           v, file: path, line: n + 1)
        }
        return result
    }

    /// Pascal VOC annotation files: `<filename>` and each `<object>`'s `<name>` and `<bndbox>`.
    public static func readVOC(_ files: [String]) throws(DenseError) -> BoxAnnotations {
        var result = BoxAnnotations(boxes: [:], classNames: [])
        for file in files {
            guard let xml = try? String(contentsOfFile: file, encoding: .utf8) else { throw .unreadable(path: file, reason: "not a readable UTF-8 file") }
            guard let filename = tag("filename", in: Substring(xml)) else { throw .malformedBoxes(file: file, line: 0, reason: "no <filename>") }
            result.boxes[filename, default: []] += []
            for object in xml.components(separatedBy: "<object>").dropFirst() {
                let o = Substring(object)
                let name = tag("name", in: o) ?? "object"
                var v: [Float] = []
                for key in ["xmin", "ymin", "xmax", "ymax"] {
                    guard let s = tag(key, in: o), let x = Float(s), x.isFinite else {
                        throw .malformedBoxes(file: file, line: 0, reason: "an <object> of \(filename) has no numeric <\(key)>")
                    }
                    v.append(x)
                }
                try result.add(image: filename, name: name, v, file: file, line: 0)
            }
        }
        return result
    }

    static func tag(_ name: String, in s: Substring) -> String? {
        guard let a = s.range(of: "<\(name)>"), let b = s.range(of: "</\(name)>", range: a.upperBound..<s.endIndex) else { return nil }
        return s[a.upperBound..<b.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The boxes of `imageName`: those recorded under that file name, else under the same stem with another extension
    /// (DeepForest's `OSBS_029.xml` names `OSBS_029.tif` for the PNG it ships).
    public func boxes(for imageName: String) -> [DetectionBox]? {
        if let b = boxes[imageName] { return b }
        let stem = (imageName as NSString).deletingPathExtension
        return boxes.first { ($0.key as NSString).deletingPathExtension == stem }?.value
    }

    /// All boxes relabelled as one class `name` (e.g. DeepForest's "Alive"/"Dead" as "Tree").
    public func merged(into name: String) -> BoxAnnotations {
        BoxAnnotations(boxes: boxes.mapValues { $0.map { var b = $0; b.label = 0; return b } }, classNames: [name])
    }

    mutating func add(image: String, name: String, _ v: [Float], file: String, line: Int) throws(DenseError) {
        guard v[2] > v[0] && v[3] > v[1] else {
            throw .malformedBoxes(file: file, line: line, reason: "box \(v) of \(image) has xmax ≤ xmin or ymax ≤ ymin")
        }
        let label: Int
        if let i = classNames.firstIndex(of: name) { label = i } else { classNames.append(name); label = classNames.count - 1 }
        boxes[image, default: []].append(DetectionBox(x0: v[0], y0: v[1], x1: v[2], y1: v[3], label: label))
    }
}
