import Checkpoints
import Foundation
import Layers

/// Why a text model, its tokenizer or one of its files could not be loaded.
///
/// Every case names the file (and, where one is involved, the JSON key or tensor key) so a message points at the
/// exact place to look.
public enum TextModelError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A required file is absent (`vocab.txt`, `config.json`, `model.safetensors`, …).
    case fileNotFound(file: String)
    /// The file exists but could not be read.
    case unreadable(file: String, reason: String)
    /// A JSON file is not valid JSON, lacks a required key, has a value of the wrong type, or an impossible value.
    case malformedJSON(file: String, key: String?, reason: String)
    /// A setting names something TransferKit does not implement (an activation, a normalizer, a pooling mode…).
    case unsupported(file: String, key: String, value: String)
    /// The vocabulary is empty or lacks a token the tokenizer needs.
    case badVocabulary(file: String, reason: String)
    /// The weights file could not be read.
    case checkpoint(CheckpointError)
    /// The weights file does not match the architecture its config describes (missing, unexpected or mis-shaped
    /// keys, all listed).
    case stateDict(file: String, StateDictError)

    public var description: String {
        switch self {
        case .fileNotFound(let file):
            return "\(file): no such file"
        case .unreadable(let file, let reason):
            return "\(file): cannot be read: \(reason)"
        case .malformedJSON(let file, let key, let reason):
            return "\(file): " + (key.map { "key '\($0)': " } ?? "") + reason
        case .unsupported(let file, let key, let value):
            return "\(file): key '\(key)': \(value) is not supported"
        case .badVocabulary(let file, let reason):
            return "\(file): bad vocabulary: \(reason)"
        case .checkpoint(let error):
            return error.description
        case .stateDict(let file, let error):
            return "\(file): \(error.description)"
        }
    }
}

/// JSON helpers shared by the text-model loaders.
enum TextJSON {
    /// Reads a file as bytes, turning a missing file into ``TextModelError/fileNotFound(file:)``.
    static func read(_ path: String) throws(TextModelError) -> Data {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound(file: path) }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(file: path, reason: error.localizedDescription)
        }
    }

    /// Decodes `T` from the JSON file at `path`; decoding failures name the key.
    static func decode<T: Decodable>(_ type: T.Type, from path: String) throws(TextModelError) -> T {
        let data = try read(path)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, file: path)
        } catch {
            throw .malformedJSON(file: path, key: nil, reason: "\(error)")
        }
    }

    /// A JSON object (top level) from `path`.
    static func object(from path: String) throws(TextModelError) -> [String: Any] {
        let data = try read(path)
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw .malformedJSON(file: path, key: nil, reason: "invalid JSON: \(error.localizedDescription)")
        }
        guard let object = value as? [String: Any] else {
            throw .malformedJSON(file: path, key: nil, reason: "the top level is not a JSON object")
        }
        return object
    }

    static func describe(_ error: DecodingError, file: String) -> TextModelError {
        func path(_ c: DecodingError.Context, _ extra: CodingKey? = nil) -> String? {
            let keys = c.codingPath + (extra.map { [$0] } ?? [])
            return keys.isEmpty ? nil : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let c):
            return .malformedJSON(file: file, key: path(c, key), reason: "required key is missing")
        case .typeMismatch(let type, let c):
            return .malformedJSON(file: file, key: path(c), reason: "expected a value of type \(type)")
        case .valueNotFound(let type, let c):
            return .malformedJSON(file: file, key: path(c), reason: "expected a value of type \(type), found null")
        case .dataCorrupted(let c):
            let underlying = c.underlyingError.map { ": \($0.localizedDescription)" } ?? ""
            return .malformedJSON(file: file, key: path(c), reason: "invalid JSON: \(c.debugDescription)\(underlying)")
        @unknown default:
            return .malformedJSON(file: file, key: nil, reason: "\(error)")
        }
    }
}
