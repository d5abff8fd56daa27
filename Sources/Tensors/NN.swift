import CDNNL
import Foundation

extension Tensor {
    /// Softmax along `axis` (oneDNN `softmax_v2`, accurate algorithm).
    public func softmax(axis: Int = -1) -> Tensor { softmaxOp(axis: axis, log: false) }

    /// Log-softmax along `axis` (oneDNN `softmax_v2`, log algorithm).
    public func logSoftmax(axis: Int = -1) -> Tensor { softmaxOp(axis: axis, log: true) }

    private func softmaxOp(axis: Int, log: Bool) -> Tensor {
        let a = shape.axis(axis, op: log ? "logSoftmax" : "softmax")
        let x = plainData()
        let d = DNNL.plainDesc(shape)
        let alg = log ? dnnl_softmax_log : dnnl_softmax_accurate
        let fkey = "smf|\(alg.rawValue)|\(a)|\(DNNL.key(d))"
        func makeForward() -> dnnl_primitive_desc_t {
            var op = dnnl_softmax_v2_desc_t()
            var dd = d
            DNNL.check(dnnl_softmax_v2_forward_desc_init(&op, dnnl_forward_training, alg, &dd, &dd, Int32(a)), "softmax_forward \(shape)")
            return DNNL.makePD(&op, "softmax_forward")
        }
        let p = DNNL.primitive(fkey, makeForward)
        let out = Tensor(uninitialized: shape)
        if count > 0 {
            p.execute([(DNNL_ARG_SRC, d, UnsafeMutableRawPointer(x.basePointer)),
                       (DNNL_ARG_DST, d, UnsafeMutableRawPointer(out.storage.pointer))])
        }
        // The backward keeps the output's data (not the output tensor, which owns this node).
        let saved = out.detached()
        return out.recorded(log ? "logSoftmax" : "softmax", [self]) { g0, _ in
            let out = saved
            let g = g0.plainData()
            let bp = DNNL.primitive("smb|\(alg.rawValue)|\(a)|\(DNNL.key(d))") {
                var op = dnnl_softmax_v2_desc_t()
                var dd = d
                DNNL.check(dnnl_softmax_v2_backward_desc_init(&op, alg, &dd, &dd, &dd, Int32(a)), "softmax_backward")
                return DNNL.makePD(&op, hint: DNNL.primitive(fkey, makeForward).pd, "softmax_backward")
            }
            let gx = Tensor(uninitialized: out.shape)
            bp.execute([(DNNL_ARG_DST, d, UnsafeMutableRawPointer(out.basePointer)),
                        (DNNL_ARG_DIFF_DST, d, UnsafeMutableRawPointer(g.basePointer)),
                        (DNNL_ARG_DIFF_SRC, d, UnsafeMutableRawPointer(gx.storage.pointer))])
            return [gx]
        }
    }

    /// Cross-entropy from logits `[N, C]` and class indices, averaged over the targets that are not `ignoreIndex`
    /// (PyTorch `F.cross_entropy` with `reduction="mean"`). With `labelSmoothing` ε the target distribution is
    /// (1 − ε)·onehot + ε/C. One fused kernel: the gradient is (softmax − target) / count.
    public static func crossEntropy(logits: Tensor, targets: [Int], labelSmoothing: Float = 0,
                                    ignoreIndex: Int? = -100) -> Tensor {
        require(logits.rank == 2, "crossEntropy: logits must be [N, C], got \(logits.shape)")
        let n = logits.shape[0], c = logits.shape[1]
        require(targets.count == n, "crossEntropy: \(targets.count) targets for logits \(logits.shape)")
        require((0...1).contains(labelSmoothing), "crossEntropy: labelSmoothing \(labelSmoothing) outside [0, 1]")
        let logp = withNoGrad { logits.logSoftmax(axis: 1) }
        let lp = logp.basePointer
        var total: Double = 0
        var used = 0
        for i in 0..<n {
            let t = targets[i]
            if let ignoreIndex, t == ignoreIndex { continue }
            require(t >= 0 && t < c, "crossEntropy: target \(t) at row \(i) outside 0..<\(c)")
            used += 1
            var rowSum: Double = 0
            for j in 0..<c { rowSum += Double(lp[i * c + j]) }
            total += -(1 - Double(labelSmoothing)) * Double(lp[i * c + t]) - Double(labelSmoothing) / Double(c) * rowSum
        }
        let loss = Tensor(scalar: used == 0 ? .nan : Float(total / Double(used)))
        return loss.recorded("crossEntropy", [logits]) { g, _ in
            let scale = g.item() / Float(Swift.max(used, 1))
            let grad = Tensor.zeros(logits.shape)
            let gp = grad.storage.pointer, lp = logp.basePointer
            let eps = labelSmoothing / Float(c)
            for i in 0..<n {
                let t = targets[i]
                if let ignoreIndex, t == ignoreIndex { continue }
                for j in 0..<c {
                    let target = (j == t ? 1 - labelSmoothing : 0) + eps
                    gp[i * c + j] = (Foundation.exp(lp[i * c + j]) - target) * scale
                }
            }
            return [grad]
        }
    }

    /// Binary cross-entropy from logits, averaged over all elements (PyTorch `binary_cross_entropy_with_logits`),
    /// computed stably as max(x, 0) − x·y + log(1 + e^(−|x|)).
    public static func binaryCrossEntropyWithLogits(logits: Tensor, targets: Tensor) -> Tensor {
        require(logits.shape == targets.shape, "binaryCrossEntropyWithLogits: logits \(logits.shape) vs targets \(targets.shape)")
        let x = logits.plainData(), y = targets.plainData()
        let n = x.count
        var total: Double = 0
        for i in 0..<n {
            let v = Double(x.basePointer[i]), t = Double(y.basePointer[i])
            total += Swift.max(v, 0) - v * t + Foundation.log1p(Foundation.exp(-Swift.abs(v)))
        }
        let loss = Tensor(scalar: Float(total / Double(Swift.max(n, 1))))
        return loss.recorded("binaryCrossEntropyWithLogits", [logits, targets]) { g, needs in
            let scale = g.item() / Float(Swift.max(n, 1))
            let gx = needs[0] ? Tensor(uninitialized: x.shape) : nil
            let gy = needs[1] ? Tensor(uninitialized: x.shape) : nil
            for i in 0..<n {
                let v = x.basePointer[i]
                gx?.storage.pointer[i] = (1 / (1 + Foundation.exp(-v)) - y.basePointer[i]) * scale
                gy?.storage.pointer[i] = -v * scale
            }
            return [gx, gy]
        }
    }

    /// Mean squared error.
    public static func mseLoss(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        require(prediction.shape == target.shape, "mseLoss: prediction \(prediction.shape) vs target \(target.shape)")
        let d = prediction - target
        return (d * d).mean()
    }

    /// Huber loss (PyTorch `huber_loss`, mean): ½d² where |d| ≤ δ, else δ(|d| − ½δ).
    public static func huberLoss(_ prediction: Tensor, _ target: Tensor, delta: Float = 1) -> Tensor {
        require(prediction.shape == target.shape, "huberLoss: prediction \(prediction.shape) vs target \(target.shape)")
        let d = prediction - target
        let a = d.abs()
        let quadratic = Tensor.minimum(a, Tensor(scalar: delta))
        let linear = a - quadratic
        return (quadratic * quadratic * 0.5 + linear * delta).mean()
    }

    /// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1 − p); identity when
    /// not training. The mask comes from `generator`, so runs repeat exactly.
    public func dropout(p: Float, training: Bool, generator: inout SeededGenerator) -> Tensor {
        require((0..<1).contains(p), "dropout: p = \(p) outside [0, 1)")
        guard training, p > 0 else { return self }
        let keep = 1 - p
        let mask = Tensor(uninitialized: shape)
        for i in 0..<count { mask.storage.pointer[i] = generator.nextFloat() < keep ? 1 / keep : 0 }
        return self * mask
    }
}
