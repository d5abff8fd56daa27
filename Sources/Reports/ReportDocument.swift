import Datasets
import Foundation
import Tensors
import TransferKit

// MARK: - Training history

/// The epochs of a run, in the order they ran, across phases (a fine-tune run has a "head" phase and then a
/// "fine-tune" phase, each numbering its epochs from 0).
///
/// JSON: `{"metric_name": NAME, "epochs": [{"epoch", "phase", "train_loss", "valid_loss", "valid_metric",
/// "learning_rate", "seconds"}]}` (`valid_loss` and `valid_metric` null without validation data).
public struct TrainingHistory: Codable, Sendable, Equatable {
    /// One record per epoch run.
    public var epochs: [EpochRecord]
    /// What ``EpochRecord/validMetric`` measures, e.g. "accuracy" (charts and tables use it as a title).
    public var metricName: String

    public init(epochs: [EpochRecord] = [], metricName: String = "accuracy") {
        self.epochs = epochs
        self.metricName = metricName
    }

    /// Total seconds over every epoch.
    public var seconds: Double { epochs.reduce(0) { $0 + $1.seconds } }

    /// The phases in order of first appearance, each with the run-wide indices of its epochs.
    public var phases: [(name: String, range: Range<Int>)] {
        var out: [(name: String, range: Range<Int>)] = []
        for (i, e) in epochs.enumerated() {
            if let last = out.last, last.name == e.phase, last.range.upperBound == i {
                out[out.count - 1].range = last.range.lowerBound..<(i + 1)
            } else {
                out.append((e.phase, i..<(i + 1)))
            }
        }
        return out
    }

    private enum CodingKeys: String, CodingKey { case epochs, metricName = "metric_name" }
    private enum EpochKeys: String, CodingKey {
        case epoch, phase, seconds
        case trainLoss = "train_loss", validLoss = "valid_loss", validMetric = "valid_metric",
             learningRate = "learning_rate"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(metricName, forKey: .metricName)
        var list = c.nestedUnkeyedContainer(forKey: .epochs)
        for e in epochs {
            var r = list.nestedContainer(keyedBy: EpochKeys.self)
            try r.encode(e.epoch, forKey: .epoch)
            try r.encode(e.phase, forKey: .phase)
            try r.encode(e.trainLoss, forKey: .trainLoss)
            try r.encode(e.validLoss, forKey: .validLoss)
            try r.encode(e.validMetric, forKey: .validMetric)
            try r.encode(e.learningRate, forKey: .learningRate)
            try r.encode(e.seconds, forKey: .seconds)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metricName = try c.decode(String.self, forKey: .metricName)
        var list = try c.nestedUnkeyedContainer(forKey: .epochs)
        var epochs: [EpochRecord] = []
        while !list.isAtEnd {
            let r = try list.nestedContainer(keyedBy: EpochKeys.self)
            epochs.append(EpochRecord(
                epoch: try r.decode(Int.self, forKey: .epoch), phase: try r.decode(String.self, forKey: .phase),
                trainLoss: try r.decode(Float.self, forKey: .trainLoss),
                validLoss: try r.decodeIfPresent(Float.self, forKey: .validLoss),
                validMetric: try r.decodeIfPresent(Float.self, forKey: .validMetric),
                learningRate: try r.decode(Float.self, forKey: .learningRate),
                seconds: try r.decode(Double.self, forKey: .seconds)))
        }
        self.epochs = epochs
    }
}

// MARK: - Report inputs

/// An input file left out of a run, and why.
public struct SkippedFile: Codable, Sendable, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// The contents of `metrics.json`, written beside `report.html`.
///
/// JSON: `{"title", "created_at" (ISO 8601), "validation": METRICS|null, "test": METRICS|null, "history",
/// "config": {key: value}, "skipped_files": [{"path", "reason"}], "mistakes": [{"source", "true_label",
/// "predicted_label", "confidence", "text"?}]}` with METRICS as ``MetricsReport`` encodes it. Read it with
/// ``MetricsReport/jsonDecoder()`` (non-finite numbers are written as strings).
public struct ReportDocument: Codable, Sendable, Equatable {
    /// A mistake without its thumbnail.
    public struct MistakeEntry: Codable, Sendable, Equatable {
        public var source: String
        public var trueLabel: String
        public var predictedLabel: String
        public var confidence: Float
        public var text: String?

        private enum CodingKeys: String, CodingKey {
            case source, confidence, text, trueLabel = "true_label", predictedLabel = "predicted_label"
        }
    }

    public var title: String
    public var createdAt: String
    public var validation: MetricsReport?
    public var test: MetricsReport?
    public var history: TrainingHistory
    public var config: [String: String]
    public var skippedFiles: [SkippedFile]
    public var mistakes: [MistakeEntry]

    private enum CodingKeys: String, CodingKey {
        case title, validation, test, history, config, mistakes
        case createdAt = "created_at", skippedFiles = "skipped_files"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(title, forKey: .title)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(validation, forKey: .validation)  // null when absent, so the key is always there
        try c.encode(test, forKey: .test)
        try c.encode(history, forKey: .history)
        try c.encode(config, forKey: .config)
        try c.encode(skippedFiles, forKey: .skippedFiles)
        try c.encode(mistakes, forKey: .mistakes)
    }
}
