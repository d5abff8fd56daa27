import Datasets
import Models
import Tensors

extension Pretrained {
    /// ImageNet predictions of a pretrained image network for image files: the `topK` most probable of
    /// `labels` for each file, computed in batches of `batchSize` (eval mode, no gradients). `names` are the inputs
    /// as the user gave them; unreadable files are returned in `failed` with the decoder's reason.
    /// What `transfer predict --model NAME` prints and `transfer serve` answers.
    public static func predictions(_ network: any VisionBackbone, preprocessing: ImagePreprocessing, files: [String],
                                   names: [String], labels: [String], topK: Int, batchSize: Int = 32)
        -> (predictions: [Prediction], failed: [(String, String)]) {
        precondition(names.count == files.count, "predictions: \(names.count) names for \(files.count) files")
        let pipeline = preprocessing.evaluationPipeline
        var predictions: [Prediction] = [], failed: [(String, String)] = []
        for start in stride(from: 0, to: files.count, by: Swift.max(1, batchSize)) {
            var xs: [Tensor] = [], kept: [String] = []
            for i in start..<Swift.min(files.count, start + Swift.max(1, batchSize)) {
                do { xs.append(try pipeline.tensor(contentsOf: files[i])); kept.append(names[i]) } catch {
                    failed.append((names[i], error.description))
                }
            }
            guard !xs.isEmpty else { continue }
            let probs = withNoGrad { network(Tensor.stack(xs)).softmax(axis: 1) }
            predictions += TransferKit.topK(probs, k: Swift.max(1, Swift.min(topK, labels.count)), labels: labels, inputs: kept)
        }
        return (predictions, failed)
    }
}
