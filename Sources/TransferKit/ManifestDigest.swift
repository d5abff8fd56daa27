import Assets
import Foundation
import Models

extension ModelBundle.Manifest {
    /// SHA-256 (lowercase hex) of ``canonicalEncoding``: what ``manifestSha256`` must equal.
    public var canonicalSha256: String { SHA256.hex(canonicalEncoding) }

    /// Every field but ``manifestSha256`` in a fixed order and a byte format of its own, independent of JSON
    /// spacing, key order and number formatting: each field is its snake_case key, then a tagged value — strings and
    /// keys as length-prefixed UTF-8, integers as 64-bit little-endian, floats by their bit pattern (one NaN), optionals
    /// with a presence byte, maps sorted by the UTF-8 bytes of their keys. The encoding starts with
    /// `transferkit-manifest` and the format version, so a later format cannot collide with this one.
    public var canonicalEncoding: Data {
        var w = CanonicalWriter()
        w.string("transferkit-manifest")
        w.field("format_version"); w.int(formatVersion)
        w.field("tool_version"); w.string(toolVersion)
        w.field("created_at"); w.string(createdAt)
        w.field("backbone"); w.string(backbone)
        w.field("backbone_weights_sha256"); w.string(backboneWeightsSha256)
        w.field("task"); w.string(task)
        w.field("strategy"); w.string(strategy)
        w.field("head"); w.string(head)
        w.field("head_inputs"); w.int(headInputs)
        w.field("head_outputs"); w.int(headOutputs)
        w.field("head_hidden"); w.int(headHidden)
        w.field("labels"); w.count(labels.count); for l in labels { w.string(l) }
        w.field("thresholds")
        if let thresholds { w.present(); w.count(thresholds.count); for t in thresholds { w.float(t) } } else { w.absent() }
        w.field("target_scaling")
        if let s = targetScaling { w.present(); w.float(s.mean); w.float(s.std) } else { w.absent() }
        w.field("preprocessing")
        if let p = preprocessing {
            w.present(); w.int(p.inputSize); w.int(p.resizeShorterTo); w.string(p.normalization.rawValue); w.string(p.interpolation)
        } else { w.absent() }
        w.field("weights_sha256"); w.string(weightsSha256)
        w.field("includes_backbone"); w.bool(includesBackbone)
        w.field("training")
        let training = self.training.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
        w.count(training.count); for (k, v) in training { w.string(k); w.string(v) }
        w.field("metrics")
        let metrics = self.metrics.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
        w.count(metrics.count); for (k, v) in metrics { w.string(k); w.double(v) }
        w.field("precision")
        if let precision { w.present(); w.string(precision) } else { w.absent() }
        return Data(w.bytes)
    }

    /// This manifest with ``manifestSha256`` set to its ``canonicalSha256``.
    public func sealed() -> Self {
        var m = self
        m.manifestSha256 = canonicalSha256
        return m
    }
}

/// The byte writer of ``ModelBundle/Manifest/canonicalEncoding``.
struct CanonicalWriter {
    var bytes: [UInt8] = []

    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func tag(_ c: Character) { bytes.append(c.asciiValue ?? 0) }
    mutating func field(_ key: String) { tag("k"); raw(key) }
    mutating func raw(_ s: String) { let u = Array(s.utf8); u64(UInt64(u.count)); bytes += u }
    mutating func string(_ s: String) { tag("s"); raw(s) }
    mutating func int(_ i: Int) { tag("i"); u64(UInt64(bitPattern: Int64(i))) }
    mutating func count(_ n: Int) { tag("n"); u64(UInt64(n)) }
    mutating func bool(_ b: Bool) { tag("b"); bytes.append(b ? 1 : 0) }
    mutating func float(_ f: Float) { tag("f"); u64(UInt64(f.isNaN ? Float.nan.bitPattern : f.bitPattern)) }
    mutating func double(_ d: Double) { tag("d"); u64(d.isNaN ? Double.nan.bitPattern : d.bitPattern) }
    mutating func present() { tag("+") }
    mutating func absent() { tag("-") }
}
