import Tensors

/// The validation split of dense training (`--val-split`): whole images held out, chosen by a seeded shuffle.
public enum DenseSplit {
    /// `round(fraction × count)` indices held out (at least one), the rest for training (at least one), both sorted.
    public static func indices(count: Int, fraction: Double, seed: UInt64) throws(DenseError) -> (train: [Int], heldOut: [Int]) {
        guard fraction > 0 && fraction < 1 else { throw .invalidOption(name: "--val-split", value: "\(fraction)", accepted: "a fraction in (0, 1)") }
        let k = Swift.max(1, Int((fraction * Double(count)).rounded()))
        guard count - k >= 1 else {
            throw .invalidOption(name: "--val-split", value: "\(fraction)",
                                 accepted: "a fraction that leaves at least one of the \(count) images for training and one for validation")
        }
        var order = Array(0..<count)
        var g = SeededGenerator(seed: seed)
        order.shuffle(using: &g)
        return (Array(order[k...]).sorted(), Array(order[..<k]).sorted())
    }
}
