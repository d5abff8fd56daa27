import Datasets
import Foundation
import Tensors
import TransferKit

/// Unlabelled target rows (cached features) with, optionally, strongly augmented views of each row: the target stream
/// of adaptation training. Each epoch is shuffled with the seed; with views, epoch `e` carries view `e mod K` as the
/// batch tensor ``DomainStreams/strongView``.
public struct TargetFeatureSource: BatchSource {
    public let weak: Tensor
    public let strongViews: [Tensor]
    public let batchSize: Int
    public let seed: UInt64

    public init(weak: Tensor, strongViews: [Tensor] = [], batchSize: Int, seed: UInt64) {
        precondition(strongViews.allSatisfy { $0.shape == weak.shape }, "TargetFeatureSource: views must match the rows \(weak.shape)")
        self.weak = weak; self.strongViews = strongViews; self.batchSize = batchSize; self.seed = seed
    }

    public var sampleCount: Int { weak.shape[0] }

    public func batches(epoch: Int) -> BatchStream {
        var g = SeededGenerator.forEpoch(seed: seed, epoch: epoch)
        let order = g.permutation(sampleCount)
        let view = strongViews.isEmpty ? nil : strongViews[epoch % strongViews.count]
        return BatchStream(stride(from: 0, to: order.count, by: batchSize).map { start in
            let idx = Array(order[start..<Swift.min(order.count, start + batchSize)])
            var b = Batch(inputs: .tensor(weak.indexSelect(axis: 0, indices: idx)), targets: .classes(idx.map { _ in -1 }), indices: idx)
            if let view { b.tensors[DomainStreams.strongView] = view.indexSelect(axis: 0, indices: idx) }
            return b
        })
    }
}

/// Strong augmentation of a text for self-training (the text counterpart of RandAugment in FixMatch; Xie et al.
/// 2020 "UDA" use back-translation, unavailable offline): each word is deleted with probability `deletion`, then
/// `swaps` random pairs of the remaining words are swapped. Deterministic in (text, seed, view).
public enum TextAugmentation {
    public static func strong(_ text: String, seed: UInt64, view: Int, deletion: Double = 0.2, swaps: Int = 2) -> String {
        var h: UInt64 = seed ^ (UInt64(view) &* 0x9E37_79B9_7F4A_7C15)
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        var g = SeededGenerator(seed: h)
        var words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        let kept = words.filter { _ in Double(g.nextFloat()) >= deletion }
        if !kept.isEmpty { words = kept }
        if words.count > 1 {
            for _ in 0..<swaps { words.swapAt(Int(g.next() % UInt64(words.count)), Int(g.next() % UInt64(words.count))) }
        }
        return words.joined(separator: " ")
    }
}
