import Foundation

extension ModelBundle {
    /// Why a bundle cannot be written or read. Every message is one line that names the file, the key, the value
    /// found and what is accepted (values are quoted with control characters escaped and long ones shortened).
    public enum BundleError: Error, CustomStringConvertible, Equatable {
        /// The bundle path does not exist or is not a directory.
        case notADirectory(path: String)
        /// A file of the bundle is absent.
        case missingFile(path: String)
        /// A file of the bundle is a directory, FIFO, device or socket.
        case notARegularFile(path: String, kind: String)
        /// A file of the bundle is larger than any bundle writes.
        case tooLarge(path: String, bytes: Int, limit: Int)
        /// A file of the bundle exists but cannot be read.
        case unreadable(path: String, reason: String)
        /// manifest.json is not JSON; `reason` is the decoder's (with its position).
        case notJSON(file: String, reason: String)
        /// A required key is absent.
        case missingKey(file: String, key: String)
        /// A key holds a value of the wrong JSON type.
        case wrongType(file: String, key: String, expected: String, found: String)
        /// A key this format does not define.
        case unknownKey(file: String, key: String, known: [String])
        /// A value of the right type outside the accepted range or set.
        case invalidValue(file: String, key: String, value: String, accepted: String)
        /// A bundle format this TransferKit does not read.
        case formatVersion(file: String, found: Int, supported: Int)
        /// The manifest's fields do not hash to its recorded `manifest_sha256`.
        case manifestEdited(file: String, recorded: String, actual: String)
        /// weights.safetensors does not hash to the manifest's `weights_sha256`.
        case weightsHash(file: String, expected: String, actual: String)
        /// The registry weights differ from those a features-strategy bundle was trained on.
        case backboneHash(model: String, expected: String, actual: String)
        /// weights.safetensors does not hold what the manifest describes (`key` names the tensor when one is at fault).
        case weights(file: String, key: String?, reason: String)
        /// A tensor holds NaN or infinity.
        case nonFiniteWeight(file: String, key: String, index: Int, value: Float)
        /// The bundle holds an adapter (`file`) and the caller gave no loader for it.
        case adapterNeeded(file: String, strategy: String)
        /// The bundle is int8-quantised (its manifest records `training.quantization_sha256`) and the caller gave no
        /// quantisation loader: loading it would run the fp32 weights without saying so.
        case quantizedBundle(directory: String)

        public var description: String {
            let text: String = switch self {
            case .notADirectory(let p): "\(p) is not a directory: a bundle is a directory holding manifest.json and weights.safetensors"
            case .missingFile(let p): "\(p) does not exist: not a TransferKit bundle, or an incomplete one"
            case .notARegularFile(let p, let k): "\(p) is a \(k), not a regular file"
            case .tooLarge(let p, let b, let l): "\(p) has \(b) bytes; a bundle's file holds at most \(l)"
            case .unreadable(let p, let r): "cannot read \(p): \(r)"
            case .notJSON(let f, let r): "\(f) is not valid JSON: \(r)"
            case .missingKey(let f, let k): "\(f): missing key \"\(k)\""
            case .wrongType(let f, let k, let e, let found): "\(f): \"\(k)\" must be \(e), found \(found)"
            case .unknownKey(let f, let k, let known):
                "\(f): unknown key \(ManifestText.quote(k)) (known keys: \(known.joined(separator: ", ")))"
            case .invalidValue(let f, let k, let v, let a): "\(f): \"\(k)\" is \(v); accepted: \(a)"
            case .formatVersion(let f, let found, let s) where found < s:
                "\(f) has bundle format \(found), written before manifests were covered by a hash, so an edit of its task or labels cannot be detected; this TransferKit reads format \(s): train the model again"
            case .formatVersion(let f, let found, let s): "\(f) has bundle format \(found); this TransferKit reads format \(s)"
            case .manifestEdited(let f, let r, let a):
                "\(f) was edited or damaged after it was written: its fields hash to \(a), it records manifest_sha256 \(r)"
            case .weightsHash(let f, let e, let a): "\(f) has SHA-256 \(a), the manifest says \(e): the bundle is damaged"
            case .backboneHash(let m, let e, let a): "the bundle was trained on \(m) weights \(e), but the cached weights are \(a)"
            case .weights(let f, let k?, let r): "\(f): tensor \(ManifestText.quote(k)): \(r)"
            case .weights(let f, nil, let r): "\(f): \(r)"
            case .adapterNeeded(let f, let s):
                "the bundle's strategy \(s) keeps the backbone's adapter in \(f): load it with an adapter loader (the Adapters target's LoRABundle.load; `transfer predict` does), or merge it with `transfer lora merge`"
            case .quantizedBundle(let d):
                "\(d) is an int8-quantised bundle (\(quantizationPlanFile)): `transfer predict` and `transfer evaluate` run it in int8; this command would run it in fp32, so it refuses it: give it the fp32 bundle it was quantised from"
            case .nonFiniteWeight(let f, let k, let i, let v):
                "\(f): tensor \(ManifestText.quote(k)) holds \(v) at element \(i): the weights are not finite, so every output would be meaningless"
            }
            return ManifestText.oneLine(text)
        }
    }
}

/// Text helpers for one-line error messages that echo hostile input.
enum ManifestText {
    /// The longest echo of a value in a message.
    static let maxEcho = 80

    /// `s` quoted, control characters escaped, shortened to ``maxEcho`` characters.
    static func quote(_ s: String) -> String {
        var out = ""
        var n = 0
        for ch in s.unicodeScalars {
            if n >= maxEcho { out += "…"; break }
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isBreaking(ch) {
                    out += "\\u{\(String(ch.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
            n += 1
        }
        return "\"" + out + "\""
    }

    /// `s` with line breaks and other control characters escaped, so a message stays on one line.
    static func oneLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isBreaking) else { return s }
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += " "
            default:
                if isBreaking(ch) {
                    out += "\\u{\(String(ch.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out
    }

    /// Control characters and the Unicode line and paragraph separators.
    static func isBreaking(_ ch: Unicode.Scalar) -> Bool {
        ch.value < 0x20 || (0x7F..<0xA0).contains(ch.value) || ch.value == 0x2028 || ch.value == 0x2029
    }
}
