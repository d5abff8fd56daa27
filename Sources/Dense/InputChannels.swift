import Layers
import Models
import Tensors

extension VisionBackbone {
    /// Replaces the first convolution by one taking `channels` inputs while keeping what its pretrained weights
    /// compute, as segmentation_models.pytorch's `patch_first_conv` does: for 1 channel the kernels summed over R, G,
    /// B (a grey image `g` then gives exactly what the RGB model gives for `(g, g, g)`); for `k` > 3 channels input
    /// channel `i` gets the kernel of colour `i mod 3`, all scaled by 3 / k (channels that repeat R, G, B give the RGB
    /// model's output); for 2 channels the R and G kernels scaled by 3 / 2. The bias, stride, padding and dilation stay.
    public func adaptInputChannels(_ channels: Int) throws(DenseError) {
        guard (1...64).contains(channels) else {
            throw .invalidOption(name: "--input-channels", value: "\(channels)", accepted: "1…64")
        }
        guard let path = blockGroups.first?.prefixes.first, let old = try? module(at: path) as? Conv2d, old.groups == 1 else {
            throw .invalidOption(name: "--input-channels", value: "\(channels)", accepted: "a model whose first layer is a plain convolution")
        }
        guard channels != old.weight.shape[1] else { return }
        let s = old.weight.shape
        let (out, inOld, kh, kw) = (s[0], s[1], s[2], s[3])
        let w = old.weight.contiguous().toArray()
        var new = [Float](repeating: 0, count: out * channels * kh * kw)
        let plane = kh * kw
        for o in 0..<out {
            for i in 0..<channels {
                for p in 0..<plane {
                    let value: Float
                    if channels == 1 {
                        value = (0..<inOld).reduce(0) { $0 + w[(o * inOld + $1) * plane + p] }
                    } else {
                        value = w[(o * inOld + i % inOld) * plane + p] * Float(inOld) / Float(channels)
                    }
                    new[(o * channels + i) * plane + p] = value
                }
            }
        }
        let conv = Conv2d(channels, out, kernel: (kh, kw), stride: old.stride, padding: old.padding, dilation: old.dilation,
                          bias: old.bias != nil)
        conv.weight.assign(Tensor(shape: [out, channels, kh, kw], data: new))
        if let b = old.bias, let nb = conv.bias { nb.assign(b.contiguous()) }
        do { try replaceModule(at: path, with: conv) } catch {
            throw .invalidOption(name: "--input-channels", value: "\(channels)", accepted: "a replaceable first convolution (\(error))")
        }
    }
}
