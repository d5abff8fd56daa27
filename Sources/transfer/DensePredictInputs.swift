import Datasets
import Foundation

extension PredictCommand {
    /// Creates `output`, then decodes each input image and hands it to `body` with its file name's stem (the prefix
    /// of the files `predict` writes for it): the loop shared by segmentation and detection prediction.
    func forEachDenseInput(output: String, _ body: (_ file: String, _ stem: String, _ image: RGBImage) throws -> Void) throws {
        do { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) } catch {
            throw RuntimeError("cannot create --output \(output): \(error.localizedDescription)")
        }
        for file in inputs {
            let image: RGBImage
            do { image = try ImageDecoder.decode(contentsOf: file) } catch { throw RuntimeError(error.description) }
            try body(file, ((file as NSString).lastPathComponent as NSString).deletingPathExtension, image)
        }
    }
}
