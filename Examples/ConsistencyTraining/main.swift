// Trains a head with a custom objective, consistency between two augmented views of every sample (the Π-model of
// Laine & Aila 2017), on real EfficientNet-Lite0 features of a Fashion-MNIST sample, beside the plain objective.
import Datasets
import Foundation
import Models
import Tensors
import TransferKit

/// Cross-entropy on the first view plus λ · MSE between the two views' class probabilities.
final class ViewConsistency: TrainingObjective {
    let lambda: Float
    var generator = SeededGenerator(seed: 1)
    init(lambda: Float) { self.lambda = lambda }

    /// A view: each feature scaled by (1 + ε), ε ~ N(0, 0.3²).
    func view(_ x: Tensor) -> Tensor { x * (Tensor.randn(x.shape, generator: &generator, std: 0.3) + 1) }

    func outputs(_ batch: TransferKit.Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs {
        guard training, let x = batch.inputs.tensor else { return Outputs(forward(batch.inputs)) }
        return Outputs(forward(.tensor(view(x))), extra: ["second view": forward(.tensor(view(x)))])
    }

    func loss(_ outputs: Outputs, batch: TransferKit.Batch) -> Tensor {
        let ce = ClassificationObjective().loss(outputs, batch: batch)
        guard let other = outputs["second view"] else { return ce }
        return ce + Tensor.mseLoss(outputs.primary.softmax(axis: 1), other.softmax(axis: 1)) * lambda
    }
}

let work = FileManager.default.temporaryDirectory.appendingPathComponent("consistency-example")
try? FileManager.default.removeItem(at: work)
let fashion = try DatasetRegistry.spec(named: "fashion-mnist")
_ = try DatasetRegistry.export(fashion, split: "train", perClass: 20, to: work.appendingPathComponent("train").path, seed: 0)
_ = try DatasetRegistry.export(fashion, split: "test", perClass: 50, to: work.appendingPathComponent("test").path, seed: 0)
let spec = try ModelRegistry.spec(named: "efficientnet-lite0")
let backbone = try FeatureBackbone(spec: spec, weightsPath: try await ModelRegistry.fetch(spec).path)
let (train, valid) = try LabeledData.load(work.appendingPathComponent("train").path).split(validation: 0.1, seed: 0)
let test = try LabeledData.load(work.appendingPathComponent("test").path)
var options = TrainOptions()
options.strategy = .features
options.headLearningRate = 3e-3
options.progress = false
for consistency in [false, true] {
    let trainer = TransferTrainer(backbone: backbone, options: options)
    if consistency { trainer.objective = { _, _, _ in ViewConsistency(lambda: 2) } }
    let model = try trainer.train(train, validation: valid).model
    guard case .classification(let m) = try model.evaluate(test).metrics else { fatalError("a classifier") }
    print(String(format: "%@: test accuracy %.3f on %d images", consistency ? "view consistency" : "plain cross-entropy",
                 m.accuracy, test.inputs.count))
}
