import Assets
import Foundation

/// A change of a backbone's own weights made from the training data before the head is trained, such as SetFit's
/// contrastive fine-tuning on pairs (the FewShot target's `SetFitPreparation`). ``Strategy/setfit`` runs one:
/// ``TransferTrainer`` calls it first, marks the backbone as adapted (``FeatureBackbone/adaptation``, with the
/// SHA-256 of the new weights) so that no cached feature of the old weights is used, and trains the head on the
/// new features; the bundle stores the backbone.
public protocol BackbonePreparation: AnyObject {
    /// Changes `backbone`'s weights using `train`; returns what the manifest's `training` records of it.
    func prepare(_ backbone: FeatureBackbone, train: LabeledData) throws -> [String: String]
}

extension TransferTrainer {
    /// Runs ``preparation`` for ``Strategy/setfit`` (nothing for the other strategies) and marks the backbone.
    func prepareBackbone(_ train: LabeledData) throws -> [String: String] {
        guard options.strategy == .setfit else { return [:] }
        guard let preparation else {
            throw TrainError.unsupportedTask("the setfit strategy needs a BackbonePreparation (TransferTrainer.preparation); none was given")
        }
        let notes = try preparation.prepare(backbone, train: train)
        var bytes = Data()
        for (_, t) in backbone.module.stateDict() { t.toArray().withUnsafeBufferPointer { bytes.append(Data(buffer: $0)) } }
        backbone.adaptation = "\(options.strategy.rawValue) \(SHA256.hex(bytes))"
        backbone.module.eval()
        return notes
    }
}
