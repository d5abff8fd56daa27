import Tensors
import TransferKit

/// Each task's score on the samples labelled for it.
public struct TaskScore: Sendable, Equatable {
    public var task: String
    public var kind: TaskSpec.Kind
    /// Samples labelled for the task.
    public var labelled: Int
    /// Accuracy (classification), micro-F1 at 0.5 (multi-label), or −MAE in standard deviations (regression).
    public var score: Float
    /// Regression: the mean absolute error in the target's units.
    public var mae: Float?
}

public enum MultiTaskScores {
    /// Scores of concatenated head outputs `[N, Σ outputs]` against a target matrix `[N, Σ columns]` (NaN missing).
    public static func compute(outputs: Tensor, targets: Tensor, tasks: [TaskHead]) -> [TaskScore] {
        let o = outputs.toArray(), y = targets.toArray()
        let n = targets.shape[0], ow = outputs.shape[1], yw = targets.shape[1]
        var oo = 0, yo = 0
        var out: [TaskScore] = []
        for t in tasks {
            let rows = (0..<n).filter { !y[$0 * yw + yo].isNaN }
            var score: Float = .nan, mae: Float?
            if !rows.isEmpty {
                switch t.spec.kind {
                case .classification:
                    let hits = rows.filter { r in
                        let row = o[(r * ow + oo)..<(r * ow + oo + t.outputs)]
                        let best = row.indices.max { row[$0] < row[$1] }.map { $0 - (r * ow + oo) } ?? -1
                        return best == Int(y[r * yw + yo])
                    }.count
                    score = Float(hits) / Float(rows.count)
                case .multilabel:
                    var tp = 0, fp = 0, fn = 0
                    for r in rows {
                        for j in 0..<t.outputs {
                            let p = o[r * ow + oo + j] >= 0, truth = y[r * yw + yo + j] > 0.5
                            if p && truth { tp += 1 } else if p { fp += 1 } else if truth { fn += 1 }
                        }
                    }
                    score = tp == 0 ? 0 : Float(2 * tp) / Float(2 * tp + fp + fn)
                case .regression:
                    let e = rows.reduce(Float(0)) { $0 + abs(o[$1 * ow + oo] - y[$1 * yw + yo]) } / Float(rows.count)
                    score = -e
                    mae = e * (t.scaling?.std ?? 1)
                }
            }
            out.append(TaskScore(task: t.spec.name, kind: t.spec.kind, labelled: rows.count, score: score, mae: mae))
            oo += t.outputs
            yo += t.columns
        }
        return out
    }
}
