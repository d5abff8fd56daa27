import Datasets

/// Heat-map overlays of class-activation maps, as pytorch-grad-cam's `show_cam_on_image` draws them.
public enum CAMOverlay {
    /// OpenCV's `COLORMAP_JET` as 256 RGB entries: the piecewise-linear jet ramps r = 1.5 − |4x − 3|,
    /// g = 1.5 − |4x − 2|, b = 1.5 − |4x − 1| clipped to [0, 1] at x = k / 255 (within one level of OpenCV's table,
    /// which interpolates MATLAB's 64-entry `jet`; the test compares against `cv2.applyColorMap`).
    public static let jet: [(r: UInt8, g: UInt8, b: UInt8)] = (0..<256).map { k in
        let x = Double(k) / 255
        func ramp(_ c: Double) -> UInt8 { UInt8((Swift.max(0, Swift.min(1, 1.5 - Swift.abs(4 * x - c))) * 255).rounded()) }
        return (r: ramp(3), g: ramp(2), b: ramp(1))
    }

    /// `show_cam_on_image(image / 255, map, use_rgb=True, colormap=COLORMAP_JET, image_weight)`: the jet colour of
    /// `uint8(255 · map)` blended with the image, `(1 − image_weight) · heat + image_weight · image`, divided by its
    /// maximum and truncated to bytes. `map` holds `image.width × image.height` values in [0, 1].
    public static func overlay(_ map: [Float], on image: RGBImage, imageWeight: Float = 0.5) -> RGBImage {
        precondition(map.count == image.width * image.height, "overlay: \(map.count) map values for \(image.width)×\(image.height)")
        var blended = [Float](repeating: 0, count: map.count * 3)
        for (p, v) in map.enumerated() {
            let level = Int(UInt8(clamping: Int(255 * Swift.max(0, Swift.min(1, v)))))
            let c = jet[level]
            let heat = [Float(c.r), Float(c.g), Float(c.b)]
            for ch in 0..<3 {
                blended[3 * p + ch] = (1 - imageWeight) * heat[ch] / 255 + imageWeight * Float(image.pixels[3 * p + ch]) / 255
            }
        }
        let top = blended.max() ?? 1
        return RGBImage(width: image.width, height: image.height,
                        pixels: blended.map { UInt8(clamping: Int(255 * ($0 / (top > 0 ? top : 1)))) })
    }
}
