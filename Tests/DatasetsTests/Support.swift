import Datasets
import Foundation
import Testing

/// The folder of image fixtures written by tools/make_image_fixtures.py.
func imageFixtureDirectory() throws -> String {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/images", withExtension: nil),
                           "Fixtures/images missing from the test bundle")
    return url.path
}

func fixtureBytes(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: try imageFixtureDirectory() + "/" + name)))
}

/// One case of Fixtures/images/manifest.json.
struct FixtureCase: Decodable, CustomTestStringConvertible, Sendable {
    let kind: String
    let file: String
    let expected: String
    let width: Int
    let height: Int
    let note: String
    let filter: String?
    let source_width: Int?
    let source_height: Int?
    var testDescription: String { "\(file) → \(expected) (\(note))" }
}

private struct Manifest: Decodable {
    let pillow: String
    let cases: [FixtureCase]
}

/// The manifest's cases of one kind ("decode", "draft", "resize", "resize_float").
func fixtureCases(_ kind: String) -> [FixtureCase] {
    guard let url = Bundle.module.url(forResource: "Fixtures/images/manifest", withExtension: "json"),
          let data = try? Data(contentsOf: url),
          let manifest = try? JSONDecoder().decode(Manifest.self, from: data) else { return [] }
    return manifest.cases.filter { $0.kind == kind }
}

/// Mean and largest absolute difference of two byte arrays of equal length.
func byteDifference(_ a: [UInt8], _ b: [UInt8]) -> (mean: Double, max: Int) {
    precondition(a.count == b.count)
    var total = 0, worst = 0
    for (x, y) in zip(a, b) {
        let d = abs(Int(x) - Int(y))
        total += d
        worst = max(worst, d)
    }
    return (Double(total) / Double(max(a.count, 1)), worst)
}

/// The `DatasetError` `body` throws, or nil when it returns (any other error is recorded as a test issue).
func datasetError<T>(_ body: () throws -> T) -> DatasetError? {
    do {
        _ = try body()
        return nil
    } catch let error as DatasetError {
        return error
    } catch {
        Issue.record("expected a DatasetError, got \(error)")
        return nil
    }
}

/// A fresh temporary directory tree for one test, removed by `cleanup()`.
struct Scratch {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("datasets-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { dir + "/" + name }
    /// Writes `bytes` at `name` (a relative path; folders are created).
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Array(text.utf8)) }
    func mkdir(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: path(name), withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }
}
