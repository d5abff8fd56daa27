import Datasets

extension LabelMask {
    /// `image` with every non-background pixel blended half-and-half with its class colour (`palette`, PASCAL VOC's
    /// colour map by default); background (0) and ignored (255) pixels are left as they are.
    public func overlay(on image: RGBImage, palette: [UInt8] = LabelMask.vocPalette, opacity: Float = 0.5) -> RGBImage {
        precondition(image.width == width && image.height == height, "overlay: mask \(width)×\(height) on image \(image.width)×\(image.height)")
        var out = image
        for i in 0..<labels.count {
            let l = Int(labels[i])
            guard l != 0 && l != 255 else { continue }
            for c in 0..<3 {
                let blended = (1 - opacity) * Float(image.pixels[i * 3 + c]) + opacity * Float(palette[l * 3 + c])
                out.pixels[i * 3 + c] = UInt8(Swift.min(255, Swift.max(0, blended.rounded())))
            }
        }
        return out
    }
}
