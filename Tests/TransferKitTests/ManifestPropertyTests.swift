import Foundation
import Testing
@testable import TransferKit

/// SplitMix64: a small seeded generator, so every run draws the same inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

/// A JSON document as the generator writes it: key order kept, any number (NaN and infinity written as bare tokens,
/// which is not JSON), strings escaped or raw.
indirect enum Doc: Equatable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([Doc]), object([(String, Doc)])

    static func == (a: Doc, b: Doc) -> Bool { a.text == b.text }

    init(_ v: JSONValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .number(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(Doc.init))
        case .object(let o): self = .object(o.sorted { $0.key < $1.key }.map { ($0.key, Doc($0.value)) })
        }
    }

    var text: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): "\(i)"
        case .double(let d): d.isNaN ? "NaN" : d.isInfinite ? (d > 0 ? "Infinity" : "-Infinity") : "\(d)"
        case .string(let s): Doc.quoted(s)
        case .array(let a): "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): "{" + o.map { Doc.quoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    var objectPairs: [(String, Doc)]? { if case .object(let o) = self { o } else { nil } }
}

/// The manifest loader under random and boundary input: every input either loads or throws a ``ModelBundle/BundleError``
/// whose message is one line; no input traps; a manifest that loads means what the sealed one meant (any semantic
/// change is caught by validation or by the hash); and the pure validation accepts a one-field change exactly when the
/// format's rules allow that value. `TRANSFERKIT_FUZZ_COUNT` sets the number of inputs (default 2000, a few seconds; `make fuzz` runs more) and
/// `TRANSFERKIT_FUZZ_SEED` the seed (default 24).
@Suite struct ManifestPropertyTests {
    static let count = ProcessInfo.processInfo.environment["TRANSFERKIT_FUZZ_COUNT"].flatMap { Int($0) }.map { Swift.max($0, 1) } ?? 2000
    static let seed: UInt64 = ProcessInfo.processInfo.environment["TRANSFERKIT_FUZZ_SEED"].flatMap { UInt64($0) } ?? 24

    static let hex64 = String(repeating: "0123456789abcdef", count: 4)
    static let ints = [0, -1, 1, 2, 3, 4, -1280, 1279, 1280, 1281, 512, 16_384, 16_385, 100_001, 1_099_511_627_776, Int.max, Int.min]
    static let doubles = [0.5, -0.25, 1.5, 1e308, -1e308, 0.1, 3.75, .nan, .infinity, -.infinity]
    static let strings = ["", "NaN", "nan", "inf", "-inf", "Infinity", "1280", "-1280", "classification", "multilabel", "regression",
                          "features", "fine-tune", "full", "linear", "mlp", "fp32", "bf16", "fp16", "efficientnet-lite0",
                          "EfficientNet-Lite0", "efficientnet-lite1", "resnet50", "minilm-l6", "ünïcødé 🐱", "e\u{301}", "é",
                          "\u{0}", "a\nb", "\u{2028}", "\u{FEFF}", String(repeating: "x", count: 300), hex64, hex64.uppercased(),
                          String(hex64.dropLast()), "cat", "dog", "fox", "imagenet", "efficientNetLite", "bilinear"]
    static let keyNames = ["labels2", "", "Labels", "head_inputs ", "ñ", "__proto__", "manifest_sha", "x\ny"]

    /// A random scalar or small container.
    static func value(_ r: inout SplitMix64, depth: Int = 0) -> Doc {
        switch r.below(depth > 1 ? 5 : 8) {
        case 0: return .null
        case 1: return .bool(r.chance(0.5))
        case 2: return .int(r.pick(ints))
        case 3: return .double(r.pick(doubles))
        case 4: return .string(r.pick(strings))
        case 5: return .array((0..<r.below(5)).map { _ in value(&r, depth: depth + 1) })
        case 6: return .array((0..<r.below(5)).map { _ in .string(r.pick(strings)) })
        default:
            var pairs: [(String, Doc)] = []
            for _ in 0..<r.below(4) {
                let k = r.pick(strings + keyNames)
                if !pairs.contains(where: { $0.0 == k }) { pairs.append((k, value(&r, depth: depth + 1))) }
            }
            return .object(pairs)
        }
    }

    /// Whether the rules accept `value` for top-level `key` of the classification fixture (3 labels, a linear head on
    /// EfficientNet-Lite0's 1280 features, the features strategy); `base` is the fixture's own value.
    static func acceptable(_ key: String, _ value: Doc, base: Doc) -> Bool {
        func isString(_ d: Doc) -> Bool { if case .string = d { true } else { false } }
        switch (key, value) {
        case ("format_version", .int(2)), ("backbone", .string("efficientnet-lite0")), ("strategy", .string("features")),
             ("head_inputs", .int(1280)), ("head_outputs", .int(3)), ("includes_backbone", .bool(false)),
             ("thresholds", .null), ("target_scaling", .null), ("precision", .null), ("precision", .string("fp32")),
             ("precision", .string("bf16")), ("task", .string("classification")), ("task", .string("multilabel")),
             ("head", .string("linear")), ("head", .string("mlp")):
            return true
        case ("tool_version", .string), ("created_at", .string): return true
        case ("backbone_weights_sha256", .string(let s)), ("weights_sha256", .string(let s)), ("manifest_sha256", .string(let s)):
            return ModelBundle.isSHA256Hex(s)
        case ("head_hidden", .int(let i)): return (1...ModelBundle.maxHidden).contains(i)
        case ("labels", .array(let a)):
            let s = a.compactMap { if case .string(let s) = $0 { s } else { nil } }
            return s.count == a.count && s.count == 3 && Set(s).count == 3
        case ("training", .object(let o)): return o.allSatisfy { isString($0.1) } && Set(o.map(\.0)).count == o.count
        case ("metrics", .object(let o)):
            return Set(o.map(\.0)).count == o.count && o.allSatisfy {
                switch $0.1 {
                case .int: true
                case .double(let d): d.isFinite
                case .string(let s): ["nan", "inf", "-inf"].contains(s)
                default: false
                }
            }
        case ("preprocessing", _): return value == base
        default: return false
        }
    }

    enum Mutation {
        case replace(String, Doc)
        case remove(String)
        case extra(String, Doc)
        case bytes(Data)
    }

    /// One random input from the sealed fixture, and the one field changed when only one was (for the rules oracle).
    static func input(_ r: inout SplitMix64, base: [(String, Doc)], baseText: Data) -> (Data, (key: String, value: Doc)?) {
        func apply(_ muts: [Mutation], to pairs: [(String, Doc)]) -> [(String, Doc)] {
            var p = pairs
            for m in muts {
                switch m {
                case .replace(let k, let v): p = p.map { $0.0 == k ? (k, v) : $0 }
                case .remove(let k): p.removeAll { $0.0 == k }
                case .extra(let k, let v): p.append((k, v))
                case .bytes: break
                }
            }
            return p
        }
        func fieldMutation(_ r: inout SplitMix64) -> Mutation {
            let (key, old) = r.pick(base)
            switch r.below(6) {
            case 0: return .remove(key)
            case 1:
                let name = r.pick(keyNames + ["thresholds", "target_scaling"])
                return base.contains { $0.0 == name } ? .replace(name, value(&r)) : .extra(name, value(&r))
            case 2:
                // A nested change: one element or entry of an array or object.
                switch old {
                case .array(var a):
                    switch r.below(3) {
                    case 0 where !a.isEmpty: a[r.below(a.count)] = value(&r, depth: 1)
                    case 1 where !a.isEmpty: a.remove(at: r.below(a.count))
                    default: a.append(r.chance(0.5) ? (a.first ?? .null) : value(&r, depth: 1))
                    }
                    return .replace(key, .array(a))
                case .object(var o):
                    if !o.isEmpty, r.chance(0.7) {
                        let i = r.below(o.count)
                        o[i].1 = r.chance(0.3) ? .int(r.pick(ints)) : value(&r, depth: 1)
                    } else {
                        let k = r.pick(strings + keyNames)
                        if let i = o.firstIndex(where: { $0.0 == k }) { o[i].1 = value(&r, depth: 1) } else { o.append((k, value(&r, depth: 1))) }
                    }
                    return .replace(key, .object(o))
                default: return .replace(key, value(&r))
                }
            default: return .replace(key, value(&r))
            }
        }
        switch r.below(10) {
        case 0:  // truncated
            return (baseText.prefix(r.below(baseText.count)), nil)
        case 1:  // random bytes
            return (Data((0..<r.below(200)).map { _ in UInt8(truncatingIfNeeded: r.next()) }), nil)
        case 2:  // one byte changed
            var d = baseText
            let i = d.startIndex + r.below(d.count)
            d[i] = r.chance(0.5) ? UInt8(truncatingIfNeeded: r.next()) : d[i] ^ (1 << UInt8(r.below(8)))
            return (d, nil)
        case 3, 4:  // several fields at once
            let muts = (0..<(2 + r.below(3))).map { _ in fieldMutation(&r) }
            return (Data(Doc.object(apply(muts, to: base)).text.utf8), nil)
        default:
            let m = fieldMutation(&r)
            let data = Data(Doc.object(apply([m], to: base)).text.utf8)
            if case .replace(let k, let v) = m { return (data, (k, v)) }
            if case .remove(let k) = m { return (data, (k, .null)) }  // absent reads as null for the optional keys
            if case .extra(let k, let v) = m { return (data, ModelBundle.Manifest.keys.contains(k) ? (k, v) : ("(extra)", v)) }
            return (data, nil)
        }
    }

    @Test func randomAndBoundaryManifestsLoadOnlyWhenValidAndOtherwiseFailWithAOneLineTypedError() throws {
        let sealed = BundleFixtures.manifest()
        let baseText = try ModelBundle.sealedEncoding(sealed, file: "manifest.json")
        let baseManifest = try ModelBundle.manifest(from: baseText, file: "manifest.json")
        let root = try JSONDecoder().decode(JSONValue.self, from: baseText)
        let base = try #require(Doc(root).objectPairs)
        var r = SplitMix64(seed: Self.seed)
        var loaded = 0, refused = 0, oneFieldChecks = 0
        let start = Date()
        for i in 0..<Self.count {
            let (data, field) = Self.input(&r, base: base, baseText: baseText)
            // Through the full check (decode, validate, hash): only an unchanged meaning loads.
            do {
                let m = try ModelBundle.manifest(from: data, file: "b.transferkit/manifest.json")
                #expect(m.canonicalSha256 == baseManifest.canonicalSha256,
                        "input \(i) loaded with a changed meaning: \(String(decoding: data, as: UTF8.self).prefix(300))")
                loaded += 1
            } catch {
                let text = error.description
                #expect(!text.isEmpty && text.count < 2000 && !text.contains(where: { $0.isNewline }),
                        "input \(i): message not one line: \(text.prefix(300))")
                refused += 1
            }
            // Through decoding and validation only: a one-field change is accepted exactly when the rules allow it.
            if let field {
                let baseValue = base.first { $0.0 == field.key }?.1 ?? .null
                let expected = Self.acceptable(field.key, field.value, base: baseValue)
                let accepted: Bool
                do {
                    _ = try ModelBundle.validate(try ModelBundle.Manifest.decode(data, file: "m.json"), file: "m.json")
                    accepted = true
                } catch {
                    #expect(!error.description.contains(where: { $0.isNewline }))
                    accepted = false
                }
                #expect(accepted == expected, "input \(i): \(field.key) = \(field.value.text.prefix(200)): accepted \(accepted), rules say \(expected)")
                oneFieldChecks += 1
            }
        }
        let seconds = Date().timeIntervalSince(start)
        print("ManifestPropertyTests: \(Self.count) inputs (seed \(Self.seed)) in \(String(format: "%.2f", seconds)) s: \(loaded) loaded unchanged, \(refused) refused with a one-line error, \(oneFieldChecks) one-field rule checks, 0 traps")
        #expect(refused > 0 && oneFieldChecks > 0)
    }
}
